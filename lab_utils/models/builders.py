"""Model builders for the report's networks (sections IV-A, IV-C and V), one function per architecture.

Every builder returns an uncompiled functional `keras.Model` whose layers all have stable names (as in
keras.applications: `block1_conv1`, `fc1`, `predictions`), so layers can be frozen or inspected by name and the
architecture figures do not change between runs. Every model takes raw pixels 0..255 through the same stem:
`image` → [`augmentation`, active only in training] → `rescale` (custom models) or the base's
`keras.applications.<net>.preprocess_input` (ImageNet bases). Hidden layers use ReLU and the output is a softmax
named `predictions`, as in the report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import keras

from lab_utils.data.augment import build_augmentation
from lab_utils.errors import ConfigError
from lab_utils.models.transfer import IMAGENET_BASES, build_base, check_input_shape

__all__ = [
    "MODEL_BUILDERS",
    "build_mlp",
    "build_model",
    "build_simple_cnn",
    "build_transfer_model",
    "build_vgg_blocks",
    "count_params",
    "dense_block",
    "vgg_block",
]


def _input_stem(
    input_shape: Sequence[int],
    *,
    preprocessing: Callable[[keras.KerasTensor], keras.KerasTensor],
    augmentation: str | keras.layers.Layer | None,
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """`image` → [augmentation] → preprocessing; returns the model input and the tensor the body starts from.

    `augmentation` is a preset name or a layer you made (notebook 04's `keras.Sequential` of random layers).
    """
    # float32 input: callers feed uint8 arrays (4× smaller to move around) and Keras casts them on the device.
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="image")
    x = inputs
    if augmentation is not None:
        # Before preprocessing, so the random layers work on the same 0..255 pixels a person looks at.
        layer = build_augmentation(augmentation, name="augmentation") if isinstance(augmentation, str) else augmentation
        x = layer(x)
    return inputs, preprocessing(x)


def _rescale() -> keras.layers.Layer:
    return keras.layers.Rescaling(scale=1.0 / 255.0, name="rescale")


def _predictions(x: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    # float32 even under a mixed-precision policy: a float16 softmax loses the small probabilities the loss needs.
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


# He initialisation keeps ReLU activations at a steady scale layer to layer; measured on the mini MNIST, the
# simple CNN reaches ~1.3 points more after 2 epochs with it than with Keras's default Glorot.
RELU_INIT = "he_uniform"


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout is a rate in [0, 1); got {dropout}")


def dense_block(
    x: keras.KerasTensor, units: int, *, name: str, batch_norm: bool = False, dropout: float = 0.0
) -> keras.KerasTensor:
    """The report's "dense block": `{name}` Dense(ReLU) → [`{name}_bn`] → [`{name}_dropout` if dropout > 0]."""
    x = keras.layers.Dense(units, activation="relu", kernel_initializer=RELU_INIT, name=name)(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def vgg_block(
    x: keras.KerasTensor,
    filters: int,
    *,
    name: str,
    num_convs: int = 2,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> keras.KerasTensor:
    """One VGG block: `num_convs` × (`{name}_conv{j}` 3×3 same-padded ReLU conv → [`{name}_bn{j}`]),
    then `{name}_pool` (2×2 max) → [`{name}_dropout` if dropout > 0]."""
    for j in range(1, num_convs + 1):
        x = keras.layers.Conv2D(
            filters,
            kernel_size=3,
            padding="same",
            activation="relu",
            kernel_initializer=RELU_INIT,
            name=f"{name}_conv{j}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{name}_bn{j}")(x)
    x = keras.layers.MaxPooling2D(pool_size=2, name=f"{name}_pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def build_mlp(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    hidden_units: int = 128,
    augmentation: str | keras.layers.Layer | None = None,
    name: str = "mlp",
) -> keras.Model:
    """The single-hidden-layer baseline the report's CNN is compared with (95.85% on MNIST, section V-A).

    Args:
        input_shape: (height, width, channels) of one image.
        num_classes: size of the softmax output.
        hidden_units: width of the one hidden layer `fc1`.
        augmentation: a preset of `lab_utils.data.augment.AUGMENTATION_PRESETS`, a layer, or None.
        name: the model's name.

    Returns:
        Uncompiled model: image → rescale → flatten → fc1 → predictions.
    """
    inputs, x = _input_stem(input_shape, preprocessing=_rescale(), augmentation=augmentation)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_block(x, hidden_units, name="fc1")
    return keras.Model(inputs=inputs, outputs=_predictions(x, num_classes), name=name)


def build_simple_cnn(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    dense_units: int = 128,
    dropout: float = 0.0,
    augmentation: str | keras.layers.Layer | None = None,
    name: str = "simple_cnn",
) -> keras.Model:
    """The report's MNIST CNN (section IV-A.1, Fig. 4), reused unchanged on CIFAR-10 (Table I, 63.10%).

    Args:
        input_shape: (height, width, channels); (28, 28, 1) for MNIST, (32, 32, 3) for CIFAR-10.
        num_classes: size of the softmax output.
        dense_units: width of the fully connected layer `fc1`.
        dropout: rate of the two Dropout layers `dropout1`/`dropout2` put before and after `fc1` to stop the
            early overfitting on CIFAR-10 ("Simple CNN + Dropout", 74.24%); 0 leaves them out.
        augmentation: a preset of `lab_utils.data.augment.AUGMENTATION_PRESETS`, a layer, or None.
        name: the model's name.

    Returns:
        Uncompiled model: conv1 → pool1 → conv2 → conv3 → pool2 → flatten → [dropout1] → fc1 → [dropout2]
        → predictions (valid-padded 3×3 ReLU convolutions, 2×2 max pooling).
    """
    _check_dropout(dropout)
    inputs, x = _input_stem(input_shape, preprocessing=_rescale(), augmentation=augmentation)
    conv = dict(kernel_size=3, activation="relu", kernel_initializer=RELU_INIT)
    x = keras.layers.Conv2D(32, **conv, name="conv1")(x)
    x = keras.layers.MaxPooling2D(pool_size=2, name="pool1")(x)
    x = keras.layers.Conv2D(64, **conv, name="conv2")(x)
    x = keras.layers.Conv2D(64, **conv, name="conv3")(x)
    x = keras.layers.MaxPooling2D(pool_size=2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout1")(x)
    x = keras.layers.Dense(dense_units, activation="relu", kernel_initializer=RELU_INIT, name="fc1")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout2")(x)
    return keras.Model(inputs=inputs, outputs=_predictions(x, num_classes), name=name)


def build_vgg_blocks(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    filters: Sequence[int] = (32, 64, 128),
    dense_units: int = 128,
    batch_norm: bool = False,
    dropout: float = 0.2,
    augmentation: str | keras.layers.Layer | None = None,
    name: str = "vgg_blocks",
) -> keras.Model:
    """The report's CIFAR-10 network (section IV-A.2, Fig. 5): VGG blocks, then one dense block.

    Args:
        input_shape: (height, width, channels) of one image.
        num_classes: size of the softmax output.
        filters: the architecture as data, one VGG block `block{i}` per entry (its conv width); each block
            halves the image size, so len(filters) ≤ log2(min(height, width)).
        dense_units: width of the dense block `fc1`.
        batch_norm: batch norm (`keras.layers.BatchNormalization`) after every convolution and after fc1 (81.89% →
            84.42% in Table I).
        dropout: rate of the Dropout after every block and after fc1 (0.2 in the report); 0 leaves them out.
        augmentation: a preset of `lab_utils.data.augment.AUGMENTATION_PRESETS`, a layer, or None.
        name: the model's name.

    Returns:
        Uncompiled model: block1 … blockN → flatten → fc1 [→ fc1_bn] [→ fc1_dropout] → predictions.
    """
    _check_dropout(dropout)
    if not filters:
        raise ConfigError("filters needs at least one entry (one VGG block per entry)")
    if 2 ** len(filters) > min(input_shape[:2]):
        raise ConfigError(f"{len(filters)} blocks halve a {input_shape[:2]} image below 1 pixel")
    inputs, x = _input_stem(input_shape, preprocessing=_rescale(), augmentation=augmentation)
    for i, width in enumerate(filters, start=1):
        x = vgg_block(x, width, name=f"block{i}", batch_norm=batch_norm, dropout=dropout)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_block(x, dense_units, name="fc1", batch_norm=batch_norm, dropout=dropout)
    return keras.Model(inputs=inputs, outputs=_predictions(x, num_classes), name=name)


_POOLING_LAYERS: dict[str, Callable[[], keras.layers.Layer]] = {
    "flatten": lambda: keras.layers.Flatten(name="flatten"),
    "avg": lambda: keras.layers.GlobalAveragePooling2D(name="avg_pool"),
}


def build_transfer_model(
    base: str = "vgg19",
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    weights: str | os.PathLike | None = "imagenet",
    freeze_base: bool = True,
    batch_norm: bool = False,
    dense_units: int = 256,
    dropout: float = 0.2,
    pooling: str = "flatten",
    augmentation: str | keras.layers.Layer | None = None,
    name: str | None = None,
) -> keras.Model:
    """An ImageNet base from keras.applications with a new head (section IV-C, Tables II and III).

    Args:
        base: "vgg19" or "resnet50" (`lab_utils.models.transfer.IMAGENET_BASES`).
        input_shape: (height, width, 3), at least 32×32.
        num_classes: size of the softmax output.
        weights: "imagenet" (cached in `keras_home()/models/` or downloaded; offline → WeightsError saying
            where to copy the file), None for random weights, or the path of a local weights file.
        freeze_base: `base.trainable = False`, so only the head trains (the first stage of the keras-io
            transfer-learning guide); set `model.get_layer(base).trainable = True` and recompile to fine-tune.
            Either way the base runs in inference mode, so its batch norm keeps its statistics.
        batch_norm: batch norm (`keras.layers.BatchNormalization`) `fc1_bn` in the head.
        dense_units: width of the head's dense layer `fc1`.
        dropout: rate of `fc1_dropout`; 0 leaves it out.
        pooling: "flatten" or "avg" (GlobalAveragePooling2D); the same at 32×32, where the base ends at 1×1.
        augmentation: a preset of `lab_utils.data.augment.AUGMENTATION_PRESETS`, a layer, or None.
        name: the model's name; default f"{base}_transfer".

    Returns:
        Uncompiled model: image → [augmentation] → `keras.applications.<base>.preprocess_input` (RGB → BGR minus
        the ImageNet mean pixel, recorded as a few Keras operations) → `base` → flatten|avg_pool → fc1 [→ fc1_bn]
        [→ fc1_dropout] → predictions. Notebook 03's `transfer_model` writes the same model in Keras.
    """
    _check_dropout(dropout)
    if pooling not in _POOLING_LAYERS:
        raise ConfigError(f"Unknown pooling {pooling!r}; known: {sorted(_POOLING_LAYERS)}")
    if base not in IMAGENET_BASES:
        raise ConfigError(f"Unknown transfer base {base!r}; known bases: {sorted(IMAGENET_BASES)}")
    check_input_shape(base, input_shape)  # before preprocess_input, which needs 3 channels
    # The stem (and its random layers) before the base: the order a notebook writes it in (augmentation, then
    # keras.applications.<net>(...)), so a seeded notebook draws the same random base as this builder.
    inputs, x = _input_stem(input_shape, preprocessing=IMAGENET_BASES[base].preprocess_input, augmentation=augmentation)
    base_model = build_base(base, tuple(input_shape), weights=weights)
    base_model.trainable = not freeze_base
    # The base always runs in inference mode, so its BatchNormalization keeps the ImageNet statistics even after
    # unfreezing for fine-tuning (keras-io transfer_learning guide), and the model computes the same function
    # whatever its weights came from (ImageNet, a file, or a run cache loaded into a weights=None build).
    x = base_model(x, training=False)
    x = _POOLING_LAYERS[pooling]()(x)
    x = dense_block(x, dense_units, name="fc1", batch_norm=batch_norm, dropout=dropout)
    return keras.Model(inputs=inputs, outputs=_predictions(x, num_classes), name=name or f"{base}_transfer")


MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "mlp": build_mlp,
    "simple_cnn": build_simple_cnn,
    "vgg_blocks": build_vgg_blocks,
    "transfer": build_transfer_model,
}


def build_model(architecture: str, **kwargs) -> keras.Model:
    """Build `MODEL_BUILDERS[architecture](**kwargs)`; the name a run config stores picks the builder."""
    try:
        builder = MODEL_BUILDERS[architecture]
    except KeyError:
        raise ConfigError(
            f"Unknown architecture {architecture!r}; known architectures: {sorted(MODEL_BUILDERS)}"
        ) from None
    return builder(**kwargs)


def count_params(model: keras.Model) -> dict[str, int]:
    """Parameter counts as `model.summary()` gives them: total, trainable, non-trainable."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return {"total": int(trainable + non_trainable), "trainable": int(trainable), "non_trainable": int(non_trainable)}
