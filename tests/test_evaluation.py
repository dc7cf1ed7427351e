"""Evaluation helpers against hand-checked predictions."""

from __future__ import annotations

import numpy as np
import pytest

from lab_utils.report import evaluation as ev

# 6 examples, 3 classes. Predictions: 0→0, 0→1 (0.9), 1→1, 1→1, 2→0 (0.6), 2→1 (0.7)
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.05, 0.9, 0.05],
        [0.2, 0.7, 0.1],
        [0.1, 0.8, 0.1],
        [0.6, 0.1, 0.3],
        [0.1, 0.7, 0.2],
    ],
    dtype=np.float32,
)
P = ev.Predictions(y_true=np.array([0, 0, 1, 1, 2, 2]), probs=PROBS)


def test_accuracy_and_confusion_matrix() -> None:
    assert ev.accuracy(P) == pytest.approx(3 / 6)
    cm = ev.confusion_matrix(P)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 1, 0]])
    np.testing.assert_allclose(ev.per_class_accuracy(cm), [0.5, 1.0, 0.0])


def test_type_one_and_two_errors_per_class() -> None:
    errors = ev.type_errors(ev.confusion_matrix(P))
    np.testing.assert_array_equal(errors["false_positive"], [1, 2, 0])  # type I
    np.testing.assert_array_equal(errors["false_negative"], [1, 0, 2])  # type II


def test_confusion_matrix_keeps_classes_never_predicted() -> None:
    only_zero = ev.Predictions(y_true=np.array([0, 1]), probs=np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]]))
    assert ev.confusion_matrix(only_zero).shape == (3, 3)


def test_mistakes_are_ranked_by_confidence() -> None:
    np.testing.assert_array_equal(ev.most_confident_mistakes(P, k=2), [1, 5])
    np.testing.assert_array_equal(ev.misclassified_of_class(P, 2), [5, 4])
    assert ev.misclassified_of_class(P, 1).size == 0
    with pytest.raises(ValueError, match="class_index 3"):
        ev.misclassified_of_class(P, 3)
