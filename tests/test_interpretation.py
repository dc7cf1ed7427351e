"""lab_utils.report.interpretation: the figures that show Keras at work draw the arrays they are given, and the
occlusion map points where the model looks (a model built to look only at one corner)."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import matplotlib
import numpy as np
import pytest
from keras import layers

from lab_utils.errors import ConfigError
from lab_utils.report import interpretation

from .helpers import ROOT

matplotlib.use("Agg")

SIDE = 12  # images of the corner model
CORNER = 4  # it looks only at the top-right CORNER × CORNER pixels


def _pixels(fig) -> np.ndarray:
    """The rendered figure as an RGB array."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


def _drawn(fig) -> list[np.ndarray]:
    """The arrays of every image drawn on the figure, axis by axis."""
    return [np.asarray(image.get_array()) for ax in fig.axes for image in ax.get_images()]


def _corner_model() -> keras.Model:
    """Class 0 when the top-right corner is brighter than 100, class 1 otherwise; blind to every other pixel."""
    inputs = keras.Input((SIDE, SIDE, 1))
    x = layers.Cropping2D(((0, SIDE - CORNER), (SIDE - CORNER, 0)))(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer(index=-1).set_weights([np.array([[0.02, -0.02]]), np.array([-2.0, 2.0])])
    return model


def _corner_images(n: int = 3) -> np.ndarray:
    images = np.random.default_rng(0).uniform(0, 40, (n, SIDE, SIDE, 1)).astype(np.float32)
    images[:, :CORNER, -CORNER:] = 220.0
    return images


def test_convolution_figure_shows_input_kernel_and_keras_output() -> None:
    digit = np.zeros((1, 10, 10, 1), np.float32)
    digit[0, 2:8, 4:6] = 1.0  # a vertical stroke
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    output = keras.ops.conv(digit, sobel[:, :, None, None])
    fig = interpretation.plot_convolution(digit, sobel[:, :, None, None], output)
    _image, kernel, out = _drawn(fig)
    np.testing.assert_array_equal(kernel, sobel)
    assert out.shape == (8, 8) and out.min() < 0 < out.max()  # both edges of the stroke, opposite signs
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(output)[0, ..., 0])
    assert _pixels(fig).std() > 20
    with pytest.raises(ConfigError, match="kernel must be"):
        interpretation.plot_convolution(digit, np.ones((3, 3, 2, 1)), output)


def test_kernel_and_feature_map_grids_draw_each_filter() -> None:
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, layers.Conv2D(5, 3, name="conv1")(inputs))
    kernels = model.get_layer("conv1").kernel
    fig = interpretation.plot_kernels(kernels, ncols=3)
    drawn = _drawn(fig)
    assert len(drawn) == 5
    np.testing.assert_allclose(drawn[4], interpretation.to_numpy(kernels)[..., 0, 4])
    assert _pixels(fig).std() > 20

    image = np.random.default_rng(1).uniform(0, 255, (1, 8, 8, 1)).astype(np.float32)
    maps = keras.Model(model.input, model.get_layer("conv1").output)(image)
    fig = interpretation.plot_feature_maps(maps, image=image)
    drawn = _drawn(fig)
    assert len(drawn) == 6 and drawn[1].shape == (6, 6)
    np.testing.assert_allclose(drawn[3], keras.ops.convert_to_numpy(maps)[0, ..., 2])
    with pytest.raises(ConfigError, match="Conv2D kernel"):
        interpretation.plot_kernels(np.ones((3, 3, 8, 4)))


def test_training_vs_inference_draws_dropout_statistics_and_augmented_images() -> None:
    x = np.ones((4, 10), np.float32)
    dropout = layers.Dropout(0.5, seed=0)
    fig = interpretation.plot_training_vs_inference(x, dropout(x, training=True), dropout(x, training=False))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[1].startswith("training=True") and "zeros 0%" not in titles[1]  # dropout zeroed some units
    assert "zeros 0%" in titles[2] and "mean 1.00" in titles[2]  # inference: the identity
    assert _pixels(fig).std() > 20

    images = np.random.default_rng(2).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    flip = layers.RandomFlip("horizontal", seed=0)
    fig = interpretation.plot_training_vs_inference(images, flip(images, training=True), flip(images, training=False))
    assert len(_drawn(fig)) == 9
    with pytest.raises(ConfigError, match="same shape"):
        interpretation.plot_training_vs_inference(x, x[:, :5], x)


def assert_occlusion_points_at_the_corner() -> np.ndarray:
    """The corner model's occlusion maps are zero wherever it is blind and peak inside its corner; returns them."""
    maps = interpretation.occlusion_map(_corner_model(), _corner_images(), patch=3, stride=1)
    assert maps.shape == (3, SIDE, SIDE)
    reach = CORNER + 3 - 1  # a 3-pixel square touching the corner covers at most 2 more rows/columns
    outside = maps.copy()
    outside[:, :reach, -reach:] = 0
    assert np.all(outside == 0)  # hiding anything the model cannot see changes nothing
    for m in maps:
        row, col = np.unravel_index(m.argmax(), m.shape)
        assert row < CORNER and col >= SIDE - CORNER and m.max() > 0.05
    return maps


def test_occlusion_map_points_at_the_only_corner_the_model_looks_at(monkeypatch) -> None:
    maps = assert_occlusion_points_at_the_corner()
    monkeypatch.setattr(interpretation, "OCCLUSION_CHUNK", 100)  # one image per predict call: the same maps
    np.testing.assert_allclose(
        interpretation.occlusion_map(_corner_model(), _corner_images(), patch=3, stride=1), maps, atol=1e-6
    )


def test_saliency_figure_overlays_each_map_with_labels_and_confidence() -> None:
    images = _corner_images(2)
    model = _corner_model()
    probabilities = model.predict(images, verbose=0)
    maps = interpretation.occlusion_map(model, images, patch=3, stride=1)
    fig = interpretation.plot_saliency(
        images, maps, true_labels=[0, 1], probabilities=probabilities, class_names=["bright", "dark"], ncols=2
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert "true: bright\npred: bright (9" in titles[0] and "true: dark\npred: bright" in titles[2]
    drawn = _drawn(fig)
    assert len(drawn) == 6  # image; image + map; twice
    overlay = drawn[2]
    assert overlay.shape == (SIDE, SIDE, 4)
    np.testing.assert_array_equal(overlay[..., 3] > 0, maps[0] != 0)  # see-through exactly where hiding changed nothing
    assert _pixels(fig).std() > 20
    with pytest.raises(ConfigError, match="one \\(H, W\\) map"):
        interpretation.plot_saliency(
            images, maps[:1], true_labels=[0, 1], probabilities=probabilities, class_names=["bright", "dark"]
        )


@pytest.mark.e2e
def test_occlusion_map_is_the_same_on_jax() -> None:
    """Predictions only, no backend code: the corner case passes under KERAS_BACKEND=jax too."""
    code = (
        "from tests.test_interpretation import assert_occlusion_points_at_the_corner as t; "
        "import keras; assert keras.backend.backend() == 'jax'; t()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
