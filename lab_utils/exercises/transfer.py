"""Notebook 03's exercises (transfer learning)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise, _model_differences, _within


def _check_head_params(answer: Any) -> str | None:
    from lab_utils.models.builders import build_transfer_model

    model = build_transfer_model("resnet50", weights=None, freeze_base=True)
    expected = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return _within(answer, expected, 0, "ResNet50 ends at 1×1×2048 on 32×32 images: fc1 has 2048·256 + 256 "
                                        "weights, the softmax 256·10 + 10.")


def _check_global_average_pooling(answer: Any) -> str | None:
    from lab_utils.models.builders import build_transfer_model

    return _model_differences(answer, build_transfer_model("vgg19", weights=None, freeze_base=True, pooling="avg"))


def _check_epoch_cost_ratio(answer: Any, *, head: Any, tuned: Any) -> str | None:
    expected = tuned.record.seconds_per_epoch / head.record.seconds_per_epoch
    return _within(answer, expected, 0.05 * expected, "Divide the two runs' `record.seconds_per_epoch`: fine-tuning "
                                                      "over head only.")


EXERCISES: dict[str, Exercise] = {
    "03.1": Exercise("predict", "weights training updates when the ResNet50 base is frozen", _check_head_params),
    "03.2": Exercise("build", "the VGG19 transfer model with global average pooling instead of flatten",
                     _check_global_average_pooling),
    "03.3": Exercise("explore", "how many head-only epochs one epoch of fine-tuning costs", _check_epoch_cost_ratio),
}
