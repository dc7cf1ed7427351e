"""Notebook 00's exercises (data exploration)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise, _within


def _check_majority_accuracy(answer: Any, *, test_labels: np.ndarray) -> str | None:
    counts = np.bincount(np.asarray(test_labels).ravel())
    expected = 100 * counts.max() / counts.sum()
    return _within(
        answer,
        expected,
        0.5,
        "Count the test labels per class (np.bincount): the constant model is "
        "right exactly on the images of the class it always answers; give a "
        "percentage.",
    )


def _check_channel_means(answer: Any, *, images: np.ndarray) -> str | None:
    from lab_utils.report.interpretation import to_numpy

    got = to_numpy(answer).astype(float).ravel()
    expected = np.asarray(images, dtype=np.float64).reshape(-1, np.shape(images)[-1]).mean(axis=0)
    if got.shape != expected.shape:
        return f"Give one mean per colour channel ({len(expected)} numbers, e.g. `norm.mean`), got {got.size}."
    if not np.allclose(got, expected, rtol=1e-3, atol=0.05):
        return "Adapt the layer to the raw training images (0..255, all of them) with axis=-1 (one mean per channel)."
    return None


def split_gaps(labels: np.ndarray, seeds: range = range(20)) -> tuple[float, float]:
    """Largest gap, in percentage points, between a class's share in a 20 % validation split and in `labels`,
    over `seeds` — (stratified, random) — as exercise 00.3 defines it."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels).ravel()
    classes = np.arange(labels.max() + 1)
    share = np.bincount(labels, minlength=len(classes)) / len(labels)

    def gap(stratify: np.ndarray | None) -> float:
        gaps = []
        for seed in seeds:
            _, val = train_test_split(labels, test_size=0.2, random_state=seed, stratify=stratify)
            gaps.append(np.abs(np.bincount(val, minlength=len(classes)) / len(val) - share).max())
        return 100 * float(max(gaps))

    return gap(labels), gap(None)


def _check_split_gaps(answer: Any, *, labels: np.ndarray) -> str | None:
    try:
        stratified, unstratified = (float(v) for v in answer)
    except (TypeError, ValueError):
        return "Give a pair: (largest gap with stratify=labels, largest gap without), in percentage points."
    expected = split_gaps(labels)
    if not np.allclose((stratified, unstratified), expected, atol=0.05):
        return (
            "For each seed 0–19, split with train_test_split(labels, test_size=0.2, random_state=seed[, "
            "stratify=labels]); the gap is max over classes of |share in the split − share in labels|, "
            "times 100; keep the largest over seeds."
        )
    return None


EXERCISES: dict[str, Exercise] = {
    "00.1": Exercise(
        "predict", "test accuracy (%) of a model that always answers the most frequent digit", _check_majority_accuracy
    ),
    "00.2": Exercise(
        "build",
        "per-channel mean of the CIFAR-10 training images from keras.layers.Normalization",
        _check_channel_means,
    ),
    "00.3": Exercise(
        "explore", "largest class-share gap of a 20 % split, stratified vs random, seeds 0–19", _check_split_gaps
    ),
}
