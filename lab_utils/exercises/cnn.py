"""Notebooks 01 and 02's exercises (the MNIST CNN, the CIFAR-10 CNNs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise, _model_differences, _within


def _check_fc1_params_32px(answer: Any) -> str | None:
    from lab_utils.models.builders import build_simple_cnn

    expected = build_simple_cnn(input_shape=(32, 32, 1)).get_layer("fc1").count_params()
    return _within(answer, expected, 0, "Follow the side through Eq. (3) and both poolings (32 → 30 → …), then "
                                        "fc1 has (side · side · 64) · 128 weights + 128 biases.")


def _check_mlp(answer: Any) -> str | None:
    from lab_utils.models.builders import build_mlp

    return _model_differences(answer, build_mlp())


def best_sobel_match(kernels: Any, sobel: Any) -> tuple[int, float]:
    """(index, |cosine similarity|) of the learned 3×3 kernel most like `sobel`, up to sign — exercise 01.3."""
    from lab_utils.report.inspect import to_numpy

    w = to_numpy(kernels).reshape(-1, to_numpy(kernels).shape[-1])  # (9, filters) for 3×3×1 kernels
    s = to_numpy(sobel).astype(float).ravel()
    cosine = np.abs(s @ w) / (np.linalg.norm(s) * np.linalg.norm(w, axis=0))
    return int(cosine.argmax()), float(cosine.max())


def _check_sobel_match(answer: Any, *, trained: Any, initial: Any, sobel: Any) -> str | None:
    try:
        got = tuple(float(v) for v in answer)
    except (TypeError, ValueError):
        got = ()
    (trained_index, trained_cos), (initial_index, initial_cos) = best_sobel_match(trained, sobel), best_sobel_match(
        initial, sobel)
    if len(got) != 2:
        return "Give a pair: (best |cosine| among the trained kernels, best |cosine| among the initial ones)."
    if not np.allclose(got, (trained_cos, initial_cos), atol=0.005):
        return ("Flatten the Sobel kernel and each kernel (`kernels[..., 0, i]`) to 9 numbers and take "
                "|cosine similarity| = |a·b| / (‖a‖‖b‖) — the sign does not matter, the next layer can flip it; "
                "keep the largest over the 32 kernels, once for the trained and once for the initial kernels.")
    print(f"  Trained: kernel {trained_index}, |cosine| {trained_cos:.2f}; "
          f"before training: kernel {initial_index}, |cosine| {initial_cos:.2f}.")
    return None


def _check_two_block_params(answer: Any) -> str | None:
    from lab_utils.models.builders import build_vgg_blocks

    expected = build_vgg_blocks(filters=(32, 64)).count_params()
    return _within(answer, expected, 0, "Add each layer's weights and biases: a 3×3 convolution from c_in to c_out "
                                        "channels has 9·c_in·c_out + c_out; two blocks halve 32 → 16 → 8, so fc1 "
                                        "sees 8·8·64 features.")


def _check_bn_before_relu(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model, got {type(answer).__name__}."
    kinds = ["BatchNormalization" if isinstance(layer, keras.layers.BatchNormalization) else type(layer).__name__
             for layer in answer.layers]  # FusedBatchNormalization counts as what it is: batch norm
    convs = [i for i, kind in enumerate(kinds) if kind == "Conv2D"]
    if len(convs) != 6:
        return f"Build three VGG blocks of two convolutions each: found {len(convs)} Conv2D layers."
    for i in convs:
        if answer.layers[i].get_config()["activation"] != "linear":
            return f"{answer.layers[i].name} applies its own activation: give it none, the ReLU comes after BN."
        if kinds[i + 1:i + 3] != ["BatchNormalization", "ReLU"] and kinds[i + 1:i + 3] != ["BatchNormalization",
                                                                                          "Activation"]:
            return f"After {answer.layers[i].name} put BatchNormalization, then the ReLU (layers.ReLU())."
    from lab_utils.models.builders import build_vgg_blocks

    expected = build_vgg_blocks(batch_norm=True).count_params()
    if answer.count_params() != expected:
        return f"{answer.count_params():,} parameters, expected {expected:,} (the same layers, in another order)."
    return None


def _check_dropout_minimum(answer: Any, *, run: Any) -> str | None:
    expected = run.record.best_epoch
    return _within(answer, expected, 0, "Read the epoch with the lowest validation loss from the run: "
                                        "`run.record.best_epoch` (1-based), or np.argmin of history['val_loss'] + 1.")


EXERCISES: dict[str, Exercise] = {
    "01.1": Exercise("predict", "parameters of fc1 if the CNN were fed 32×32 grey images", _check_fc1_params_32px),
    "01.2": Exercise("build", "the one-hidden-layer baseline in Keras, equal to build_mlp()", _check_mlp),
    "01.3": Exercise("explore", "how Sobel-like conv1's kernels are, trained vs at initialisation",
                     _check_sobel_match),
    "02.1": Exercise("predict", "parameters of the VGG model with two blocks, filters=(32, 64)", _check_two_block_params),
    "02.2": Exercise("build", "VGG blocks with batch norm between each convolution and its ReLU", _check_bn_before_relu),
    "02.3": Exercise("explore", "epoch of the lowest validation loss of the simple CNN with dropout 0.25",
                     _check_dropout_minimum),
}
