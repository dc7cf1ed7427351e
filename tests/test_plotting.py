"""Figures render for real (Agg), save atomically, and show what the report's captions say they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lab_utils.errors import ConfigError
from lab_utils.report import plotting

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DIGITS = [str(d) for d in range(10)]
HISTORY = {  # validation loss is lowest at epoch 3, then the model overfits
    "loss": [2.0, 1.5, 1.2, 1.1, 1.0],
    "val_loss": [1.9, 1.4, 1.3, 1.35, 1.5],
    "accuracy": [0.30, 0.45, 0.55, 0.60, 0.65],
    "val_accuracy": [0.32, 0.47, 0.52, 0.50, 0.49],
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _saved_png(fig, folder: Path, name: str = "fig") -> np.ndarray:
    """Save through save_figure, check it is a real non-blank PNG, return its pixels (H, W, RGBA)."""
    path = plotting.save_figure(fig, name, folder)
    assert path == folder / f"{name}.png" and path.stat().st_size > 0
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels[..., :3].std() > 0.05, "figure looks blank"
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.png"], "temp file left behind"
    return pixels


def _ratio(pixels: np.ndarray) -> float:
    return pixels.shape[1] / pixels.shape[0]


def _canvas(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255.0


def test_image_grid_layout_and_titles(tmp_path, rng):
    images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    fig = plotting.image_grid(images, [f"img {i}" for i in range(7)], ncols=4, title="grid")
    axes = fig.axes
    assert len(axes) == 8 and [len(ax.images) for ax in axes] == [1] * 7 + [0]
    assert [ax.get_title() for ax in axes[:7]] == [f"img {i}" for i in range(7)]
    np.testing.assert_array_equal(axes[2].images[0].get_array(), images[2])
    assert not axes[7].axison  # the padding cell of the last row is empty
    assert 1.3 < _ratio(_saved_png(fig, tmp_path)) < 2.3  # 4 columns x 2 rows


def test_image_grid_gray_and_float_images(tmp_path, rng):
    gray = rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    fig = plotting.image_grid(gray, ncols=1)
    image = fig.axes[0].images[0]
    assert image.get_cmap().name == "gray" and image.get_clim() == (0, 255)
    assert _ratio(_saved_png(fig, tmp_path)) < 0.5  # one column, three rows: tall
    floats = plotting.image_grid(np.full((2, 8, 8, 3), 0.5, dtype=np.float32))  # [0, 1] floats
    assert floats.axes[0].images[0].get_array().max() == 128


@pytest.mark.parametrize("shape", [(0, 8, 8, 3), (2, 8, 8, 2), (8, 8)])
def test_image_grid_rejects_bad_shapes(shape):
    with pytest.raises(ConfigError, match="batch of images"):
        plotting.image_grid(np.zeros(shape, dtype=np.uint8))


def test_image_grid_rejects_wrong_number_of_titles(rng):
    with pytest.raises(ConfigError, match="one title per image"):
        plotting.image_grid(rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8), ["a", "b"])


def test_highlight_first_draws_a_black_frame():
    white = np.full((4, 32, 32, 3), 255, dtype=np.uint8)
    sampled = {}
    for highlight in (False, True):
        fig = plotting.image_grid(white, ncols=4, highlight_first=highlight)
        pixels = _canvas(fig)
        box = fig.axes[0].get_window_extent()
        row = pixels.shape[0] - int(box.y0 + box.height / 2)  # canvas rows count from the top
        sampled[highlight] = pixels[row, int(box.x0) + 1]  # just inside the left edge of the first image
        others = [spine.get_visible() for ax in fig.axes[1:] for spine in ax.spines.values()]
        assert not any(others)
    assert sampled[False].min() > 0.9
    assert sampled[True].max() < 0.15


def test_plot_mnist_samples_titles_are_true_labels(tmp_path, rng):
    y = rng.integers(0, 10, 100)
    x = (y * 25).astype(np.uint8)[:, None, None, None] * np.ones((1, 28, 28, 1), dtype=np.uint8)
    fig = plotting.plot_mnist_samples(x, y, DIGITS, n=25, seed=3)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 25
    for ax in images:  # each image was drawn as value label*25: its title must be that label
        assert int(ax.get_title()) * 25 == ax.images[0].get_array()[0, 0]
    again = plotting.plot_mnist_samples(x, y, DIGITS, n=25, seed=3)
    assert [ax.get_title() for ax in again.axes] == [ax.get_title() for ax in fig.axes]
    assert 0.6 < _ratio(_saved_png(fig, tmp_path)) < 1.2  # 5 x 5


def test_plot_samples_per_class_rows_are_classes(tmp_path, rng):
    y = np.repeat(np.arange(10), 6)
    x = np.broadcast_to((y * 20).astype(np.uint8)[:, None, None, None], (60, 16, 16, 3)).copy()
    fig = plotting.plot_samples_per_class(x, y, CIFAR, per_class=4, seed=1)
    axes = np.array(fig.axes).reshape(10, 4)
    assert [row[0].get_ylabel() for row in axes] == CIFAR
    for k, row in enumerate(axes):
        assert all(ax.images[0].get_array()[0, 0, 0] == k * 20 for ax in row)
    assert _ratio(_saved_png(fig, tmp_path)) < 0.8  # 10 rows of 4
    with pytest.raises(ConfigError, match="fewer than per_class"):
        plotting.plot_samples_per_class(x, y, CIFAR, per_class=7)


def test_plot_class_distribution_bars_match_counts(tmp_path):
    counts = {"train": np.arange(4800, 4810), "validation": np.full(10, 1200), "test": np.full(10, 1000)}
    fig = plotting.plot_class_distribution(counts, DIGITS)
    ax = fig.axes[0]
    assert len(ax.containers) == 3
    for container, values in zip(ax.containers, counts.values(), strict=True):
        np.testing.assert_array_equal([bar.get_height() for bar in container], values)
    assert next(t.get_text() for t in ax.get_legend().get_texts()).startswith("train")
    assert 2.0 < _ratio(_saved_png(fig, tmp_path)) < 3.5
    with pytest.raises(ConfigError, match="11 classes"):
        plotting.plot_class_distribution(counts, [*DIGITS, "x"])


def test_plot_augmentations_frames_the_original(tmp_path, rng):
    fig = plotting.plot_augmentations(rng.uniform(0, 255, (8, 32, 32, 3)).astype(np.float32))  # layer output
    first = fig.axes[0]
    assert first.get_title() == "original" and len(fig.axes) == 8
    assert all(s.get_visible() and s.get_linewidth() >= 3 for s in first.spines.values())
    assert 1.2 < _ratio(_saved_png(fig, tmp_path)) < 2.2  # 2 rows of 4


def _dashed_x(ax) -> list[float]:
    return [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"]


def test_plot_history_marks_best_epoch(tmp_path):
    fig = plotting.plot_history(HISTORY, title="VGG blocks")
    loss_ax, acc_ax = fig.axes
    assert _dashed_x(loss_ax) == [3] and _dashed_x(acc_ax) == [3]
    train, val = loss_ax.lines[:2]
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5])  # epochs numbered from 1
    np.testing.assert_allclose(val.get_ydata(), HISTORY["val_loss"])
    assert "best epoch 3" in " ".join(t.get_text() for t in loss_ax.get_legend().get_texts())
    assert (loss_ax.get_xlabel(), acc_ax.get_ylabel()) == ("Epoch", "Accuracy")
    assert 2.0 < _ratio(_saved_png(fig, tmp_path)) < 3.5


def test_best_epoch_and_history_validation():
    assert plotting.best_epoch(HISTORY) == 3
    assert plotting.best_epoch(HISTORY, "val_accuracy") == 3
    assert plotting.best_epoch({"loss": [1.0], "accuracy": [0.5]}) is None
    with pytest.raises(ConfigError, match="metrics=\\['accuracy'\\]"):
        plotting.plot_history({"loss": [1.0, 0.9]})
    with pytest.raises(ConfigError, match="same number"):
        plotting.plot_history({**HISTORY, "val_loss": [1.0]})


def test_plot_history_comparison_shares_y_per_column(tmp_path):
    dropout = {key: [v * 0.8 for v in values] for key, values in HISTORY.items()}
    dropout["val_loss"] = [1.5, 1.2, 1.1, 1.0, 0.95]  # keeps improving: best = last epoch
    fig = plotting.plot_history_comparison({"Simple CNN": HISTORY, "Simple CNN + Dropout": dropout})
    axes = np.array(fig.axes).reshape(2, 2)
    titles = [ax.get_title() for ax in axes.flat]
    assert titles[0] == "(a) Simple CNN: loss" and titles[3] == "(d) Simple CNN + Dropout: accuracy"
    assert axes[0, 0].get_ylim() == axes[1, 0].get_ylim()
    assert axes[0, 1].get_ylim() == axes[1, 1].get_ylim()
    assert _dashed_x(axes[0, 0]) == [3] and _dashed_x(axes[1, 0]) == [5]
    assert 1.0 < _ratio(_saved_png(fig, tmp_path)) < 2.0


def test_several_seeds_draw_the_mean_with_a_band_and_each_seeds_best_epoch(tmp_path):
    other = {key: [v * 1.2 for v in values][:4] for key, values in HISTORY.items()}  # stopped one epoch earlier
    other["val_loss"] = [1.1, 0.5, 0.9, 0.95]  # best at epoch 2
    fig = plotting.plot_history([HISTORY, other])
    loss_ax = fig.axes[0]
    train, rest = loss_ax.lines[:2]
    assert "mean ± std of 2 seeds" in train.get_label()
    both = [(a + b) / 2 for a, b in zip(HISTORY["loss"][:4], other["loss"], strict=True)]
    np.testing.assert_allclose(train.get_ydata(), both)  # solid while every seed trains
    assert rest.get_linestyle() == ":" and rest.get_color() == train.get_color()
    np.testing.assert_allclose(rest.get_ydata(), [both[-1], HISTORY["loss"][4]])  # then the seed still training
    assert len(loss_ax.collections) == 2  # a band for train and one for validation
    band = loss_ax.collections[0].get_paths()[0].vertices
    assert band[:, 0].max() == 4  # no band where only one seed trained
    assert sorted(_dashed_x(loss_ax)) == [2, 3]
    assert "best epoch of each seed: 3, 2" in " ".join(t.get_text() for t in loss_ax.get_legend().get_texts())
    assert 2.0 < _ratio(_saved_png(fig, tmp_path)) < 3.5
    with pytest.raises(ConfigError, match="list of histories is empty"):
        plotting.plot_history([])


def test_confusion_matrix_annotations_are_row_percentages(tmp_path, rng):
    cm = rng.integers(0, 60, (10, 10)) + np.eye(10, dtype=int) * 700
    cm[4] = 0  # a class absent from the test set must show zeros, not NaN
    fig = plotting.plot_confusion_matrix(cm, CIFAR, title="VGG blocks + BN")
    ax = fig.axes[0]
    shown = np.array([float(t.get_text()) for t in ax.texts]).reshape(10, 10)
    totals = cm.sum(axis=1, keepdims=True)
    expected = np.divide(100 * cm, totals, out=np.zeros((10, 10)), where=totals > 0)
    np.testing.assert_allclose(shown, np.round(expected), atol=0.51)
    rows = np.delete(shown.sum(axis=1), 4)
    assert np.all(np.abs(rows - 100) <= 5)  # ten cells rounded to whole percent
    assert np.all(shown[4] == 0)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Predicted", "True")
    assert [t.get_text() for t in ax.get_yticklabels()] == CIFAR
    assert 0.9 < _ratio(_saved_png(fig, tmp_path)) < 1.5


def test_confusion_matrix_counts_and_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    cm = np.array([[5, 1], [2, 7]])
    assert plotting.plot_confusion_matrix(cm, ["a", "b"], normalize=False, ax=right) is fig
    assert [t.get_text() for t in right.texts] == ["5", "1", "2", "7"] and not left.texts
    with pytest.raises(ConfigError, match="does not match 3 class names"):
        plotting.plot_confusion_matrix(cm, ["a", "b", "c"])


def test_plot_predictions_titles(tmp_path, rng):
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    conf = np.array([0.985, 0.5, 0.996, 0.7, 0.8, 1.0])
    cats = plotting.plot_predictions(images, np.full(6, 3), [4, 5, 6, 4, 5, 0], conf, CIFAR, ncols=3)
    assert cats.axes[0].get_title() == "deer (98%)" and cats.axes[2].get_title() == "frog (99%)"
    assert "cat" in cats.get_suptitle()  # the one true class moves to the figure title
    mistakes = plotting.plot_predictions(
        images, [3, 1, 2, 3, 4, 5], [6, 9, 0, 5, 7, 1], conf, CIFAR, title="most confident mistakes"
    )
    assert mistakes.axes[0].get_title() == "true: cat\npred: frog (98%)"
    assert mistakes.axes[5].get_title() == "true: dog\npred: automobile (100%)"
    assert 1.0 < _ratio(_saved_png(mistakes, tmp_path)) < 3.0  # 5 + 1 images in 2 rows
    with pytest.raises(ConfigError, match="probabilities"):
        plotting.plot_predictions(images, np.full(6, 3), np.zeros(6), conf * 100, CIFAR)


def test_save_figure_is_atomic_when_savefig_fails(tmp_path, monkeypatch):
    fig = plotting.image_grid(np.zeros((2, 8, 8, 3), dtype=np.uint8))

    def broken_savefig(fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG\r\n\x1a\n partial")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plotting.save_figure(fig, "fig06_augmentation", tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(fig.number)


def test_save_figure_closes_and_keeps_previous_file(tmp_path):
    fig = plotting.plot_history(HISTORY)
    path = plotting.save_figure(fig, "fig10_history", tmp_path / "figures")
    assert path.suffix == ".png" and not plt.fignum_exists(fig.number)
    assert mpimg.imread(path).shape[0] > 100


@pytest.mark.parametrize("name", ["", "../fig01", "sub/fig01", "fig01.png", " fig01", ".hidden", "fig 01"])
def test_save_figure_rejects_bad_names(tmp_path, name):
    fig = plotting.plot_history(HISTORY)
    with pytest.raises(ConfigError, match="plain file stem"):
        plotting.save_figure(fig, name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_figure_rejects_axes(tmp_path):
    fig = plotting.plot_history(HISTORY)
    with pytest.raises(ConfigError, match="Figure"):
        plotting.save_figure(fig.axes[0], "fig", tmp_path)


def test_import_changes_no_rcparams():
    code = (
        "import matplotlib, sys; before = dict(matplotlib.rcParams); import lab_utils; "
        "import lab_utils.report.plotting; "
        "changed = [k for k, v in matplotlib.rcParams.items() if before[k] != v]; "
        "assert not changed, changed"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- architecture diagrams (Figs. 4, 5) --------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model():
    keras = pytest.importorskip("keras")
    from keras import layers

    augmentation = keras.Sequential(
        [layers.RandomFlip("horizontal", name="flip"), layers.RandomTranslation(0.1, 0.1, name="shift")],
        name="augmentation",
    )
    inputs = keras.Input((16, 16, 3), name="image")
    x = augmentation(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(x)
    x = layers.MaxPooling2D(name="block1_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_vgg")


def test_plot_architecture_writes_png(tmp_path, small_model):
    path = plotting.plot_architecture(small_model, tmp_path / "fig05_architecture")
    assert path == tmp_path / "fig05_architecture.png"
    pixels = mpimg.imread(path)
    assert pixels.shape[0] > pixels.shape[1] > 100  # top-to-bottom layer graph
    assert [p.name for p in tmp_path.iterdir()] == ["fig05_architecture.png"]


def _assert_drawn(path: Path, min_boxes: int) -> None:
    """A real PNG, taller than wide, with at least `min_boxes` layer boxes' worth of non-white rows."""
    pixels = mpimg.imread(path)[..., :3]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and min(pixels.shape[:2]) > 100
    inked_rows = (pixels.min(axis=(1, 2)) < 0.5).sum()
    assert inked_rows > 8 * min_boxes


def test_fig4_without_graphviz_is_drawn_by_matplotlib_with_one_hint(tmp_path, monkeypatch, capsys):
    """The MNIST CNN (Fig. 4) on a machine whose PATH has no `dot`: a real drawing, one line saying how to get
    the Graphviz version, and plot_model never called."""
    import keras

    from lab_utils.models.builders import build_simple_cnn

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no `dot` anywhere
    monkeypatch.setattr(keras.utils, "plot_model", lambda *a, **k: pytest.fail("plot_model needs Graphviz"))
    model = build_simple_cnn()
    path = plotting.plot_architecture(model, tmp_path / "fig04_mnist_cnn_architecture")
    _assert_drawn(path, len(model.layers))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "apt-get install graphviz" in lines[0] and "pip install pydot" in lines[0]
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["fig04_mnist_cnn_architecture.png"]


@pytest.mark.parametrize("failure", ["returns_none", "raises_import_error"])
def test_plot_model_failing_inside_ipython_falls_back_too(tmp_path, small_model, monkeypatch, capsys, failure):
    """Trap 6: inside IPython plot_model prints a complaint and writes nothing; that is a fallback, not a stop."""
    import keras

    def fake_plot_model(*args, **kwargs):
        if failure == "raises_import_error":
            raise ImportError("You must install pydot (`pip install pydot`) for `plot_model` to work.")
        print("You must install graphviz for `plot_model` to work.")  # what it does inside IPython
        return None

    monkeypatch.setattr(plotting, "graphviz_available", lambda: True)
    monkeypatch.setattr(keras.utils, "plot_model", fake_plot_model)
    path = plotting.plot_architecture(small_model, tmp_path / "fig05_architecture.png")
    _assert_drawn(path, 4)
    assert "drawn without Graphviz" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["fig05_architecture.png"]
