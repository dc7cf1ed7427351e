"""Notebook 04's exercises (data augmentation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise

# The calls exercise 04.1 offers, normalised (spaces and the "(...)" of fit/evaluate/predict dropped).
_CALLS = ("model.fit", "model.evaluate", "model.predict", "model(x)", "model(x,training=True)")
_AUGMENTING_CALLS = {"model.fit", "model(x,training=True)"}


def _normalise_call(call: str) -> str:
    call = call.replace(" ", "").replace("(...)", "")
    return call if call.startswith("model") else f"model.{call}"  # "fit" means model.fit


def _check_augmenting_calls(answer: Any) -> str | None:
    if isinstance(answer, str) or not isinstance(answer, (set, frozenset, list, tuple)):
        return f'Give a set of calls, e.g. {{"model.evaluate(...)"}}; got {type(answer).__name__}.'
    if not all(isinstance(call, str) for call in answer):
        return "Give the calls as strings, written as in the question."
    calls = {_normalise_call(call) for call in answer}
    if unknown := calls - set(_CALLS):
        return (
            f"Not among the five calls: {', '.join(sorted(unknown))}. Choose from model.fit(...), "
            "model.evaluate(...), model.predict(...), model(x), model(x, training=True)."
        )
    if calls == _AUGMENTING_CALLS:
        return None
    return (
        "Try it: call augment(batch, training=True) and augment(batch, training=False) (under 'See it work'), "
        "then recall which `training` flag fit, evaluate, predict and a plain call give the model."
    )


def _check_zoom_augmentation(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.layers.Layer):
        return f"`answer` should be a Keras layer (a keras.Sequential), got {type(answer).__name__}."
    kinds = [type(layer).__name__ for layer in getattr(answer, "layers", [answer])]
    if kinds != ["RandomFlip", "RandomTranslation", "RandomZoom"]:
        return f"Expected RandomFlip, RandomTranslation, RandomZoom in that order; got {', '.join(kinds)}."
    flip, shift, zoom = (layer.get_config() for layer in answer.layers)
    if flip["mode"] != "horizontal":
        return f'Flip as flip_shift does: RandomFlip("horizontal"), not {flip["mode"]!r} (upside-down ships are rare).'
    if (shift["height_factor"], shift["width_factor"]) != (0.1, 0.1):
        return "Shift as flip_shift does: RandomTranslation(height_factor=0.1, width_factor=0.1, ...)."
    if zoom["height_factor"] != 0.1 or zoom["fill_mode"] != "nearest":
        return 'Zoom by up to ±10 %: layers.RandomZoom(0.1, fill_mode="nearest").'
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    if not np.array_equal(keras.ops.convert_to_numpy(answer(batch, training=False)), batch):
        return "Called with training=False the set must return the images unchanged."
    return None


def _check_biggest_gain(answer: Any, *, without: Any, with_: Any, class_names: Any) -> str | None:
    gains = [
        ((with_.y_pred == c) & (with_.y_true == c)).sum() / max((with_.y_true == c).sum(), 1)
        - ((without.y_pred == c) & (without.y_true == c)).sum() / max((without.y_true == c).sum(), 1)
        for c in range(len(class_names))
    ]
    expected = class_names[int(np.argmax(gains))]
    return (
        None
        if answer == expected
        else (
            "Compare per-class accuracy (the confusion matrix's diagonal over its "
            "row sums) with and without augmentation; give the class name."
        )
    )


EXERCISES: dict[str, Exercise] = {
    "04.1": Exercise(
        "predict",
        "which calls of a model with augmentation layers draw new random transformations",
        _check_augmenting_calls,
    ),
    "04.2": Exercise("build", "the final augmentation set plus RandomZoom(0.1)", _check_zoom_augmentation),
    "04.3": Exercise(
        "explore", "the class that gained most test accuracy from flip + shift (VGG blocks + BN)", _check_biggest_gain
    ),
}
