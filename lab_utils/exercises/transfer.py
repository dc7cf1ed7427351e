"""Notebook 03's exercises (transfer learning)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise, _model_differences, _within


def _check_head_params(answer: Any) -> str | None:
    from lab_utils.models.builders import build_transfer_model

    model = build_transfer_model("resnet50", weights=None, freeze_base=True)
    expected = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return _within(
        answer,
        expected,
        0,
        "ResNet50 ends at 1×1×2048 on 32×32 images: fc1 has 2048·256 + 256 "
        "weights, the softmax 256·10 + 10; the frozen base trains none.",
    )


def _check_global_average_pooling(answer: Any) -> str | None:
    from lab_utils.models.builders import build_transfer_model

    return _model_differences(answer, build_transfer_model("vgg19", weights=None, freeze_base=True, pooling="avg"))


def _nested(model: Any) -> list[Any]:
    """Every layer of `model`, nested models (an augmentation Sequential, the base) opened, and the nested models."""
    import keras

    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += _nested(layer)
    return found


def _check_resized_base(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model (transfer_model(...)), got {type(answer).__name__}."
    if tuple(answer.input_shape[1:3]) != (32, 32):
        return (
            f"The model should still take CIFAR-10's 32 × 32 images (keras.Input(shape=(32, 32, 3))), not "
            f"{answer.input_shape[1:]}: the Resizing layer makes them bigger inside the model."
        )
    layers = _nested(answer)
    resizing = [layer for layer in layers if isinstance(layer, keras.layers.Resizing)]
    if not resizing:
        return "Put layers.Resizing(128, 128) in front of the preprocessing (transfer_model's `augmentation=`)."
    size = (resizing[0].height, resizing[0].width)
    if min(size) < 64:
        return f"Resizing to {size} still leaves ResNet50's last stage 1 × 1 or 2 × 2: resize to 128 × 128."
    bases = [layer for layer in answer.layers if isinstance(layer, keras.Model) and len(layer.layers) > 20]
    if not bases or not bases[0].name.startswith("resnet50"):
        return "Use a keras.applications.ResNet50 base (include_top=False, weights=None)."
    base = bases[0]
    if tuple(base.input_shape[1:3]) != size:
        return (
            f"Build the base for the resized images, input_shape=({size[0]}, {size[1]}, 3), not {base.input_shape[1:]}."
        )
    if base.output_shape[1] * base.output_shape[2] <= 1:
        return "The base's last stage still sees one position: look at base.output_shape."
    return None


EXERCISES: dict[str, Exercise] = {
    "03.1": Exercise("predict", "weights training updates when the ResNet50 base is frozen", _check_head_params),
    "03.2": Exercise(
        "build",
        "the VGG19 transfer model with global average pooling instead of flatten",
        _check_global_average_pooling,
    ),
    "03.3": Exercise(
        "explore",
        "ResNet50 on CIFAR-10 images resized to 128 × 128 inside the model: what its last stage sees",
        _check_resized_base,
    ),
}
