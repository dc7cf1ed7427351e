"""Augmentation presets: the seed's sets as Keras layers, identity at inference, and the Fig. 6 examples."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from lab_utils.data.augment import AUGMENTATION_PRESETS, augment_examples, build_augmentation
from lab_utils.errors import ConfigError

# (preset, [(layer type, {attribute: expected value})]); the seed's ImageDataGenerator settings, translated.
PRESETS = [
    (
        "flip_shift",
        [
            (keras.layers.RandomFlip, {"mode": "horizontal"}),
            (keras.layers.RandomTranslation, {"height_factor": 0.1, "width_factor": 0.1, "fill_mode": "nearest"}),
        ],
    ),
    ("flip", [(keras.layers.RandomFlip, {"mode": "horizontal_and_vertical"})]),
    (
        "flip_rotate",
        [
            (keras.layers.RandomFlip, {"mode": "horizontal_and_vertical"}),
            # rotation_range=20 degrees = 20/360 of a turn, either way
            (keras.layers.RandomRotation, {"factor": (-20 / 360, 20 / 360), "fill_mode": "nearest"}),
        ],
    ),
]


def test_every_preset_is_tested():
    assert sorted(AUGMENTATION_PRESETS) == sorted(name for name, _ in PRESETS)


@pytest.mark.parametrize("preset, expected", PRESETS, ids=[name for name, _ in PRESETS])
def test_preset_layers(preset, expected):
    block = build_augmentation(preset, name="aug")
    assert isinstance(block, keras.Sequential) and block.name == "aug"
    assert [type(layer) for layer in block.layers] == [layer_type for layer_type, _ in expected]
    for layer, (_, attributes) in zip(block.layers, expected, strict=True):
        assert layer.name.startswith("aug_")
        for attribute, value in attributes.items():
            expected_value = pytest.approx(value) if isinstance(value, (float, tuple)) else value
            assert getattr(layer, attribute) == expected_value, attribute


@pytest.mark.parametrize("preset", sorted(AUGMENTATION_PRESETS))
def test_identity_at_inference_random_in_training(preset):
    images = np.random.default_rng(0).integers(0, 256, size=(8, 32, 32, 3)).astype("float32")
    block = build_augmentation(preset, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(block(images, training=False)), images)
    augmented = keras.ops.convert_to_numpy(block(images, training=True))
    assert augmented.shape == images.shape
    assert not np.array_equal(augmented, images)


def test_seed_makes_augmentation_repeatable():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype("float32")
    first = build_augmentation("flip_shift", seed=7)(images, training=True)
    second = build_augmentation("flip_shift", seed=7)(images, training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first), keras.ops.convert_to_numpy(second))


def test_unknown_preset_raises_config_error():
    with pytest.raises(ConfigError, match=r"'rotate'.*known presets: \['flip', 'flip_rotate', 'flip_shift'\]"):
        build_augmentation("rotate")


def test_augment_examples_puts_the_original_first():
    image = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    examples = augment_examples(image, "flip_shift", n=8, seed=0)
    assert examples.shape == (8, 32, 32, 3) and examples.dtype == np.uint8
    np.testing.assert_array_equal(examples[0], image)
    assert all(not np.array_equal(example, image) for example in examples[1:])
    np.testing.assert_array_equal(examples, augment_examples(image, "flip_shift", n=8, seed=0))


def test_augment_examples_grey_and_float_images():
    image = np.random.default_rng(2).uniform(0, 255, size=(28, 28)).astype("float32")
    examples = augment_examples(image, "flip_rotate", n=3, seed=1)
    assert examples.shape == (3, 28, 28, 1) and examples.dtype == np.float32
    np.testing.assert_array_equal(examples[0, ..., 0], image)
    assert augment_examples(image, "flip", n=1).shape == (1, 28, 28, 1)
    with pytest.raises(ConfigError, match="n must be at least 1"):
        augment_examples(image, "flip", n=0)
