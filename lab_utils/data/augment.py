"""Data augmentation as Keras preprocessing layers that live inside the model.

The report used `ImageDataGenerator`, which Keras 3 no longer ships (and which never ran on JAX). Random
layers inside the model do the same job on the device, are saved with the model, and are the identity at
inference: Keras only applies them when the model is called with `training=True` (as `fit` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lab_utils.errors import ConfigError

if TYPE_CHECKING:  # the catalogue is plain data: importing it (the batch runner does) loads no Keras
    import keras

__all__ = [
    "AUGMENTATION_PRESETS",
    "AugmentationPreset",
    "LayerSpec",
    "augment_examples",
    "build_augmentation",
    "get_preset",
    "preset_for_paper_name",
]


@dataclass(frozen=True)
class LayerSpec:
    """One random layer of a preset: a name suffix, the `keras.layers` class name and its keyword arguments."""

    suffix: str
    layer: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentationPreset:
    """A named augmentation set: what the report called it, and the layers that reproduce it."""

    description: str
    label: str  # short, for table rows: "horizontal flip + shifts 0.1"
    paper_name: str  # how Table III of the report names the set
    layers: tuple[LayerSpec, ...]


# ImageDataGenerator's defaults translated: its shift ranges are fractions of the size (Keras factors too), its
# rotation_range is in degrees (RandomRotation wants a fraction of a full turn: 20/360 = ±20°), and its
# fill_mode default is "nearest" (the layers default to "reflect", so it is set explicitly).
AUGMENTATION_PRESETS: dict[str, AugmentationPreset] = {
    "flip_shift": AugmentationPreset(
        description="horizontal_flip + width/height_shift_range=0.1 (the report's final set, Table III)",
        label="horizontal flip + shifts 0.1",
        paper_name="horizontal flip + width/height shift",
        layers=(
            LayerSpec("flip", "RandomFlip", {"mode": "horizontal"}),
            LayerSpec(
                "translation",
                "RandomTranslation",
                {"height_factor": 0.1, "width_factor": 0.1, "fill_mode": "nearest"},
            ),
        ),
    ),
    "flip": AugmentationPreset(
        description="vertical + horizontal flips only (the report's 'flipping only' variant, -3.7%)",
        label="flips both ways",
        paper_name="horizontal + vertical flip",
        layers=(LayerSpec("flip", "RandomFlip", {"mode": "horizontal_and_vertical"}),),
    ),
    "flip_rotate": AugmentationPreset(
        description="vertical + horizontal flips + rotation_range=20 (the report's rejected set, -5.2%)",
        label="flips both ways + rotation 20°",
        paper_name="horizontal + vertical flip + rotation 20°",
        layers=(
            LayerSpec("flip", "RandomFlip", {"mode": "horizontal_and_vertical"}),
            LayerSpec("rotation", "RandomRotation", {"factor": 20 / 360, "fill_mode": "nearest"}),
        ),
    ),
}


def build_augmentation(preset: str, *, seed: int | None = None, name: str = "augmentation") -> keras.Sequential:
    """A fresh `Sequential` of the preset's random layers, named `{name}_{suffix}`.

    Args:
        preset: a key of `AUGMENTATION_PRESETS`.
        seed: makes the random draws repeatable; each layer gets `seed + i` so that, e.g., the flip and the
            shift are not driven by the same random stream. None draws from Keras's global seed (set by
            `keras.utils.set_random_seed`).
        name: the name of the block, as it appears in `model.summary()`.

    Returns:
        An unbuilt `keras.Sequential` that is the identity unless called with `training=True`.
    """
    import keras

    spec = get_preset(preset)
    layers = [
        getattr(keras.layers, item.layer)(
            **item.kwargs, seed=None if seed is None else seed + i, name=f"{name}_{item.suffix}"
        )
        for i, item in enumerate(spec.layers)
    ]
    for layer in layers:
        _allow_xla_on_jax(layer)
    return keras.Sequential(layers, name=name)


def get_preset(name: str) -> AugmentationPreset:
    """A preset by name; an unknown name (a typo drops a table row otherwise) raises with the known ones."""
    try:
        return AUGMENTATION_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown augmentation preset {name!r}; known presets: {sorted(AUGMENTATION_PRESETS)}"
        ) from None


def preset_for_paper_name(paper_name: str) -> str | None:
    """The preset Table III's augmentation text names, or None (a set the report did not describe)."""
    return next((name for name, p in AUGMENTATION_PRESETS.items() if p.paper_name == paper_name), None)


def _allow_xla_on_jax(layer: keras.layers.Layer) -> None:
    """Let a model holding this layer compile with XLA under JAX, where the layer's ops are plain jax.numpy.

    RandomTranslation and RandomRotation set `supports_jit = False` for every backend (TensorFlow's
    ImageProjectiveTransformV3 has no XLA kernel), and one such layer makes Keras train the *whole* model
    without `jax.jit`: op by op, on a GPU 10-100× slower. Their JAX code (`jax.scipy.ndimage.map_coordinates`)
    compiles fine. TensorFlow keeps Keras's choice.
    """
    import keras

    if keras.backend.backend() == "jax":
        layer.supports_jit = True


def augment_examples(image: np.ndarray, preset: str, n: int = 8, *, seed: int = 0) -> np.ndarray:
    """`n` images for a figure like the report's Fig. 6: the original first, then `n - 1` random augmentations.

    Args:
        image: one image, (H, W, C) or (H, W), pixel values 0..255.
        preset: a key of `AUGMENTATION_PRESETS`.
        n: how many images to return, the original included.
        seed: the same seed gives the same augmentations.

    Returns:
        An (n, H, W, C) array with the input's dtype (uint8 input → rounded and clipped to 0..255).
    """
    import keras

    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ConfigError(f"augment_examples takes one (H, W, C) image; got shape {image.shape}")
    if n < 1:
        raise ConfigError(f"n must be at least 1 (the original); got {n}")
    augmentation = build_augmentation(preset, seed=seed)
    batch = np.repeat(image[None].astype("float32"), n - 1, axis=0)
    augmented = keras.ops.convert_to_numpy(augmentation(batch, training=True)) if n > 1 else batch
    out = np.concatenate([image[None].astype("float32"), augmented], axis=0)
    if image.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out
