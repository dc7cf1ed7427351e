"""Evaluation: predictions, accuracy, the confusion matrix and the mistakes worth looking at."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from sklearn import metrics

from lab_utils.training import pipeline


@dataclass(frozen=True)
class Predictions:
    """A model's class probabilities on a labelled set."""

    y_true: np.ndarray  # (n,) int
    probs: np.ndarray  # (n, classes) softmax outputs

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted class = the most probable one."""
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """Probability the model gave to its own prediction."""
        return self.probs.max(axis=1)

    @property
    def num_classes(self) -> int:
        """Number of classes in the softmax output."""
        return int(self.probs.shape[1])


def predict(model: keras.Model, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256) -> Predictions:
    """Run the model in inference mode (augmentation and dropout off) over `x`.

    Through the training input pipeline (in order, no shuffle): the same tf.data settings as `fit` (autotuner
    off, see lab_utils.training.cpu), and not Keras's own array adapter, whose parallel map logs a TensorFlow
    "NodeDef mentions attribute use_unbounded_threadpool" error line under TF 2.21.
    """
    inputs = pipeline.fit_arguments(x, np.asarray(y), batch_size=batch_size, seed=0, shuffle=False)
    probs = np.asarray(model.predict(**{k: v for k, v in inputs.items() if k != "y"}, verbose=0), dtype=np.float32)
    return Predictions(y_true=np.asarray(y).astype(np.int64).ravel(), probs=probs)


def accuracy(p: Predictions) -> float:
    """Fraction of correct predictions, Eq. (2): (TP + TN) / all."""
    return float(metrics.accuracy_score(p.y_true, p.y_pred))


def confusion_matrix(p: Predictions) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class; every class appears even if never predicted."""
    return metrics.confusion_matrix(p.y_true, p.y_pred, labels=np.arange(p.num_classes))


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class: the diagonal over the row sums (NaN for a class with no examples)."""
    totals = cm.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / totals, np.nan)


def type_errors(cm: np.ndarray) -> dict[str, np.ndarray]:
    """One-vs-rest counts per class: false positives (type I) and false negatives (type II)."""
    tp = np.diag(cm)
    return {
        "true_positive": tp,
        "false_positive": cm.sum(axis=0) - tp,  # type I: predicted as this class, but it is not
        "false_negative": cm.sum(axis=1) - tp,  # type II: it is this class, predicted as another
    }


def misclassified_of_class(p: Predictions, class_index: int) -> np.ndarray:
    """Indices of wrongly classified examples of one true class, most confident mistakes first (Fig. 9)."""
    if not 0 <= class_index < p.num_classes:
        raise ValueError(f"class_index {class_index} is outside 0..{p.num_classes - 1}")
    wrong = np.flatnonzero((p.y_true == class_index) & (p.y_pred != class_index))
    return wrong[np.argsort(-p.confidence[wrong], kind="stable")]


def most_confident_mistakes(p: Predictions, k: int = 25) -> np.ndarray:
    """Indices of the k wrong predictions made with the highest confidence (Fig. 12's "worst classified")."""
    wrong = np.flatnonzero(p.y_true != p.y_pred)
    return wrong[np.argsort(-p.confidence[wrong], kind="stable")][:k]
