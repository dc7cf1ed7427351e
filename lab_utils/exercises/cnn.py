"""Notebooks 01 and 02's exercises (the MNIST CNN, the CIFAR-10 CNNs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab_utils.exercises.common import Exercise, _within


def _check_fc1_params_32px(answer: Any) -> str | None:
    from lab_utils.models.builders import build_simple_cnn

    expected = build_simple_cnn(input_shape=(32, 32, 1)).get_layer("fc1").count_params()
    return _within(
        answer,
        expected,
        0,
        "Follow the side through Eq. (3) and both poolings (32 → 30 → …), then "
        "fc1 has (side · side · 64) · 128 weights + 128 biases.",
    )


def _check_all_conv(answer: Any) -> str | None:
    """Exercise 01.2: the CNN with each max-pool replaced by a learned stride-2 convolution."""
    import keras

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model, got {type(answer).__name__}."
    kinds = [type(layer).__name__ for layer in answer.layers]
    if "MaxPooling2D" in kinds:
        return "Replace both MaxPooling2D layers: the stride-2 convolutions do their job."
    strided = [layer for layer in answer.layers if isinstance(layer, keras.layers.Conv2D) and layer.strides == (2, 2)]
    if kinds.count("Conv2D") != 5 or len(strided) != 2:
        return f"Expected 5 Conv2D layers, 2 of them with strides=2; found {kinds.count('Conv2D')} and {len(strided)}."
    if any(layer.padding != "same" for layer in strided):
        return 'Give the stride-2 convolutions padding="same", so the side becomes ceil(n / 2).'
    features = answer.layers[kinds.index("Flatten")].output.shape[-1]
    if features != 5 * 5 * 64:
        return f"`flatten` should see 5 · 5 · 64 = 1600 features, not {features}: follow the side through Eq. (3)."
    expected = 320 + (9 * 32 * 32 + 32) + (9 * 32 * 64 + 64) + 2 * (9 * 64 * 64 + 64) + (1600 * 128 + 128) + 1290
    if answer.count_params() != expected:
        return f"{answer.count_params():,} parameters, expected {expected:,}: check each layer's filters and units."
    return None


def best_sobel_match(kernels: Any, sobel: Any) -> tuple[int, float]:
    """(index, |cosine similarity|) of the learned 3×3 kernel most like `sobel`, up to sign — exercise 01.3."""
    from lab_utils.report.interpretation import to_numpy

    w = to_numpy(kernels).reshape(-1, to_numpy(kernels).shape[-1])  # (9, filters) for 3×3×1 kernels
    s = to_numpy(sobel).astype(float).ravel()
    cosine = np.abs(s @ w) / (np.linalg.norm(s) * np.linalg.norm(w, axis=0))
    return int(cosine.argmax()), float(cosine.max())


def _check_sobel_match(answer: Any, *, trained: Any, initial: Any, sobel: Any) -> str | None:
    try:
        got = tuple(float(v) for v in answer)
    except (TypeError, ValueError):
        got = ()
    (trained_index, trained_cos), (initial_index, initial_cos) = (
        best_sobel_match(trained, sobel),
        best_sobel_match(initial, sobel),
    )
    if len(got) != 2:
        return "Give a pair: (best |cosine| among the trained kernels, best |cosine| among the initial ones)."
    if not np.allclose(got, (trained_cos, initial_cos), atol=0.005):
        return (
            "Flatten the Sobel kernel and each kernel (`kernels[..., 0, i]`) to 9 numbers and take "
            "|cosine similarity| = |a·b| / (‖a‖‖b‖) — the sign does not matter, the next layer can flip it; "
            "keep the largest over the 32 kernels, once for the trained and once for the initial kernels."
        )
    print(
        f"  Trained: kernel {trained_index}, |cosine| {trained_cos:.2f}; "
        f"before training: kernel {initial_index}, |cosine| {initial_cos:.2f}."
    )
    return None


def _check_two_block_params(answer: Any) -> str | None:
    from lab_utils.models.builders import build_vgg_blocks

    expected = build_vgg_blocks(filters=(32, 64)).count_params()
    return _within(
        answer,
        expected,
        0,
        "Add each layer's weights and biases: a 3×3 convolution from c_in to c_out "
        "channels has 9·c_in·c_out + c_out; two blocks halve 32 → 16 → 8, so fc1 "
        "sees 8·8·64 features.",
    )


def _check_bn_before_relu(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model, got {type(answer).__name__}."
    kinds = [
        "BatchNormalization" if isinstance(layer, keras.layers.BatchNormalization) else type(layer).__name__
        for layer in answer.layers
    ]  # FusedBatchNormalization counts as what it is: batch norm
    convs = [i for i, kind in enumerate(kinds) if kind == "Conv2D"]
    if len(convs) != 6:
        return f"Build three VGG blocks of two convolutions each: found {len(convs)} Conv2D layers."
    for i in convs:
        if answer.layers[i].get_config()["activation"] != "linear":
            return f"{answer.layers[i].name} applies its own activation: give it none, the ReLU comes after BN."
        after = answer.layers[i + 2] if i + 2 < len(answer.layers) else None
        relu = isinstance(after, keras.layers.ReLU) or (
            isinstance(after, keras.layers.Activation) and after.get_config()["activation"] == "relu"
        )
        if kinds[i + 1 : i + 2] != ["BatchNormalization"] or not relu:
            return f"After {answer.layers[i].name} put BatchNormalization, then the ReLU (layers.ReLU())."
    from lab_utils.models.builders import build_vgg_blocks

    expected = build_vgg_blocks(batch_norm=True).count_params()
    if answer.count_params() != expected:
        return f"{answer.count_params():,} parameters, expected {expected:,} (the same layers, in another order)."
    return None


def _check_dropout_minimum(answer: Any, *, run: Any) -> str | None:
    """Exercise 02.3: the run must be the simple CNN with dropout 0.25, trained at most 10 epochs."""
    if run is None or not hasattr(run, "record"):
        return "Set `lighter` to the run `lab.fit(...)` returned for the simple CNN with dropout 0.25."
    rates = [round(float(layer.rate), 4) for layer in run.model.layers if type(layer).__name__ == "Dropout"]
    if rates != [0.25, 0.25]:
        return f"`lighter` should be the simple CNN with dropout 0.25 in both dropout layers; its rates are {rates}."
    if run.record.config["epochs"] > 10:
        return (
            f"Train at most 10 epochs (lab.fit(..., epochs=10)); this run's budget was {run.record.config['epochs']}."
        )
    expected = run.record.best_epoch
    return _within(
        answer,
        expected,
        0,
        "Read the epoch with the lowest validation loss from the run: "
        "`lighter.record.best_epoch` (1-based), or np.argmin of history['val_loss'] + 1.",
    )


EXERCISES: dict[str, Exercise] = {
    "01.1": Exercise("predict", "parameters of fc1 if the CNN were fed 32×32 grey images", _check_fc1_params_32px),
    "01.2": Exercise("build", "the CNN with stride-2 convolutions instead of max-pooling", _check_all_conv),
    "01.3": Exercise("explore", "how Sobel-like conv1's kernels are, trained vs at initialisation", _check_sobel_match),
    "02.1": Exercise(
        "predict", "parameters of the VGG model with two blocks, filters=(32, 64)", _check_two_block_params
    ),
    "02.2": Exercise(
        "build", "VGG blocks with batch norm between each convolution and its ReLU", _check_bn_before_relu
    ),
    "02.3": Exercise(
        "explore", "epoch of the lowest validation loss of the simple CNN with dropout 0.25", _check_dropout_minimum
    ),
}
