"""Notebook 04's exercises (data augmentation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise, _within


def _check_uncovered_share(answer: Any) -> str | None:
    return _within(answer, 1 - 0.9 * 0.9, 0.005, "A shift by 10 % of the width and 10 % of the height keeps a "
                                                 "(1 − 0.1) × (1 − 0.1) part of the image; the rest is filled.")


def _check_zoom_augmentation(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.layers.Layer):
        return f"`answer` should be a Keras layer (a keras.Sequential), got {type(answer).__name__}."
    kinds = [type(layer).__name__ for layer in getattr(answer, "layers", [answer])]
    if kinds != ["RandomFlip", "RandomTranslation", "RandomZoom"]:
        return f"Expected RandomFlip, RandomTranslation, RandomZoom in that order; got {', '.join(kinds)}."
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    if not np.array_equal(keras.ops.convert_to_numpy(answer(batch, training=False)), batch):
        return "Called with training=False the set must return the images unchanged."
    return None


def _check_biggest_gain(answer: Any, *, without: Any, with_: Any, class_names: Any) -> str | None:
    gains = [((with_.y_pred == c) & (with_.y_true == c)).sum() / max((with_.y_true == c).sum(), 1)
             - ((without.y_pred == c) & (without.y_true == c)).sum() / max((without.y_true == c).sum(), 1)
             for c in range(len(class_names))]
    expected = class_names[int(np.argmax(gains))]
    return None if answer == expected else ("Compare per-class accuracy (the confusion matrix's diagonal over its "
                                            "row sums) with and without augmentation; give the class name.")


EXERCISES: dict[str, Exercise] = {
    "04.1": Exercise("predict", "largest share of an image that a 10 % shift both ways makes up", _check_uncovered_share),
    "04.2": Exercise("build", "the final augmentation set plus RandomZoom(0.1)", _check_zoom_augmentation),
    "04.3": Exercise("explore", "the class that gained most test accuracy from flip + shift (VGG blocks + BN)",
                     _check_biggest_gain),
}
