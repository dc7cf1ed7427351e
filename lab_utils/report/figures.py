"""Figures that join a trained run's predictions to the plot helpers (Figs. 8, 9, 11, 12)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lab_utils.data.datasets import Dataset
from lab_utils.errors import ConfigError
from lab_utils.report import evaluation, plotting


def confusion_figure(predictions: evaluation.Predictions, data: Dataset, *, title: str) -> Figure:
    """Row-normalised confusion matrix (per-true-class %) on the test set."""
    return plotting.plot_confusion_matrix(evaluation.confusion_matrix(predictions), data.class_names, title=title)


def misclassified_figure(
    predictions: evaluation.Predictions, data: Dataset, class_name: str, *, n: int = 15, title: str | None = None
) -> Figure:
    """Fig. 9: test images of one class the model got wrong, most confident first, titled "deer (98%)"."""
    if class_name not in data.class_names:
        raise ConfigError(f"class {class_name!r} is not one of {', '.join(data.class_names)}")
    wrong = evaluation.misclassified_of_class(predictions, data.class_names.index(class_name))[:n]
    if wrong.size == 0:
        raise ConfigError(f"the model misclassified no {class_name!r} test image: nothing to show")
    return _predictions_figure(predictions, data, wrong, title=title)


def mistakes_figure(
    predictions: evaluation.Predictions, data: Dataset, *, k: int = 25, title: str | None = None
) -> Figure:
    """Fig. 12: the k wrong predictions made with the highest confidence."""
    worst = evaluation.most_confident_mistakes(predictions, k)
    if worst.size == 0:
        raise ConfigError("the model made no mistake on the test set: nothing to show")
    return _predictions_figure(predictions, data, worst, title=title)


def _predictions_figure(p: evaluation.Predictions, data: Dataset, rows: np.ndarray, *, title: str | None) -> Figure:
    """Test images `rows` with their true label, prediction and confidence."""
    return plotting.plot_predictions(
        data.x_test[rows], p.y_true[rows], p.y_pred[rows], p.confidence[rows], data.class_names, title=title
    )
