"""Image figures of the report (Figs. 1, 3, 6, 9, 12), all drawn by the one grid helper `image_grid`.

Figures come from pyplot so notebooks display them as usual; `plotting.save_figure` writes and closes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lab_utils.errors import ConfigError

CELL_INCHES = 1.6  # side of one image in a grid
TITLE_LINE_INCHES = 0.2  # height added per line of the per-image titles
BORDER_WIDTH = 5.0  # points; the black frame that marks the original in Fig. 6


def as_image_batch(images: np.ndarray) -> np.ndarray:
    """Images as uint8 (n, H, W, C) with C in {1, 3}; floats in [0, 1] or [0, 255] (augmentation output) too."""
    batch = np.asarray(images)
    if batch.ndim == 3:  # (n, H, W): grayscale without a channel axis
        batch = batch[..., np.newaxis]
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3) or len(batch) == 0:
        raise ConfigError(
            f"expected a non-empty batch of images shaped (n, H, W, 1) or (n, H, W, 3), got shape {batch.shape}"
        )
    if batch.dtype == np.uint8:
        return batch
    unit_range = batch.dtype == bool or (batch.dtype.kind == "f" and np.nanmax(batch) <= 1.0)
    batch = batch.astype(np.float64) * (255.0 if unit_range else 1.0)
    return np.clip(np.rint(np.nan_to_num(batch)), 0, 255).astype(np.uint8)


def as_labels(labels: np.ndarray) -> np.ndarray:
    """Integer class ids from ids or one-hot rows."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return labels.argmax(axis=1)
    return labels.reshape(len(labels)).astype(int)


def _frame(ax: Axes, visible: bool) -> None:
    """No ticks; spines only as a thick black frame (axis stays on so row labels can use the y-label)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(visible)
        if visible:
            spine.set_linewidth(BORDER_WIDTH)
            spine.set_edgecolor("black")


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 5,
    cmap: str | None = None,
    title: str | None = None,
    highlight_first: bool = False,
    row_labels: Sequence[str] | None = None,
    cell_inches: float = CELL_INCHES,
) -> Figure:
    """Show images in a grid, row by row: the one helper behind Figs. 1, 3, 6, 9 and 12.

    Args:
        images: (n, H, W, C) with C = 1 (drawn in gray, 0..255) or 3; uint8, or floats as `as_image_batch`.
        titles: one per image (may contain newlines), drawn above it.
        ncols: images per row.
        cmap: colormap for single-channel images (default "gray").
        title: figure title.
        highlight_first: frame the first image in black (Fig. 6: the original among its augmentations).
        row_labels: one label per row, left of the row (Fig. 3: class names).
        cell_inches: side of one image.
    """
    batch = as_image_batch(images)
    n = len(batch)
    if titles is not None and len(titles) != n:
        raise ConfigError(f"got {len(titles)} titles for {n} images: pass one title per image")
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ConfigError(f"got {len(row_labels)} row labels for {nrows} rows: pass one label per row")

    title_lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    width = ncols * cell_inches + (1.2 if row_labels is not None else 0.0)
    height = nrows * (cell_inches + TITLE_LINE_INCHES * title_lines) + (0.4 if title else 0.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        image = batch[i]
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap=cmap or "gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        _frame(ax, visible=highlight_first and i == 0)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if row_labels is not None:
        for ax, label in zip(axes[:, 0], row_labels, strict=True):
            ax.set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def plot_mnist_samples(x: np.ndarray, y: np.ndarray, class_names: Sequence[str], n: int = 25, seed: int = 0) -> Figure:
    """Fig. 1: `n` random training images, each titled with its true label (same `seed`, same images)."""
    labels = as_labels(y)
    if len(labels) != len(x):
        raise ConfigError(f"{len(x)} images but {len(labels)} labels: pass matching x and y")
    n = min(int(n), len(x))
    index = np.random.default_rng(seed).choice(len(x), size=n, replace=False)
    return image_grid(
        np.asarray(x)[index],
        [str(class_names[labels[i]]) for i in index],
        ncols=math.ceil(math.sqrt(n)),
        title="Random training images (title: true label)",
    )


def plot_samples_per_class(
    x: np.ndarray, y: np.ndarray, class_names: Sequence[str], per_class: int = 10, seed: int = 0
) -> Figure:
    """Fig. 3: one row per class, labelled with its name, of `per_class` random examples of that class."""
    labels = as_labels(y)
    if len(labels) != len(x):
        raise ConfigError(f"{len(x)} images but {len(labels)} labels: pass matching x and y")
    rng = np.random.default_rng(seed)
    chosen = []
    for k, name in enumerate(class_names):
        members = np.flatnonzero(labels == k)
        if len(members) < per_class:
            raise ConfigError(
                f"class {k} ({name!r}) has {len(members)} images, fewer than per_class={per_class}: "
                "lower per_class or pass more data"
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return image_grid(
        np.asarray(x)[np.concatenate(chosen)],
        ncols=per_class,
        row_labels=[str(name) for name in class_names],
        cell_inches=1.0,
        title=f"{per_class} random training images per class",
    )


def plot_augmentations(images: np.ndarray, *, title: str | None = None) -> Figure:
    """Fig. 6: an original (framed, first) followed by random augmentations of it, 4 per row."""
    batch = as_image_batch(images)
    if len(batch) < 2:
        raise ConfigError("pass the original followed by at least one augmented copy")
    titles = ["original"] + [f"augmented {i}" for i in range(1, len(batch))]
    return image_grid(
        batch,
        titles,
        ncols=4,
        highlight_first=True,
        title=title or "Random augmentations (black frame: the original)",
    )


def confidence_text(probability: float) -> str:
    """A probability as a whole percentage, truncated so 0.996 reads "99%" and "100%" means certain."""
    return f"{math.floor(probability * 100 + 1e-9):d}%"


def plot_predictions(
    images: np.ndarray,
    true_labels: np.ndarray,
    pred_labels: np.ndarray,
    confidences: np.ndarray,
    class_names: Sequence[str],
    *,
    ncols: int = 5,
    title: str | None = None,
    show_true: bool | None = None,
) -> Figure:
    """Figs. 9 and 12: images titled with the predicted class and its confidence, e.g. "deer (98%)".

    Args:
        images: (n, H, W, C) images.
        true_labels, pred_labels: class ids (or one-hot rows).
        confidences: the softmax probability of the predicted class, in [0, 1] (shown truncated).
        class_names: names indexed by class id.
        ncols: images per row.
        title: figure title; by default it names the true class when titles leave it out.
        show_true: put "true: cat" above the prediction. None (default): only when the images do not all
            share one true class (Fig. 12 shows it, Fig. 9 "misclassified cats" does not need it).
    """
    true, pred = as_labels(true_labels), as_labels(pred_labels)
    conf = np.asarray(confidences, dtype=float).reshape(-1)
    batch = as_image_batch(images)
    n = len(batch)
    if not len(true) == len(pred) == len(conf) == n:
        raise ConfigError(
            f"got {n} images, {len(true)} true labels, {len(pred)} predictions and {len(conf)} confidences: "
            "pass one of each per image"
        )
    if np.any((conf < 0) | (conf > 1)):
        raise ConfigError("confidences must be probabilities in [0, 1] (the softmax output), not percentages")
    single_class = len(np.unique(true)) == 1
    if show_true is None:
        show_true = not single_class
    titles = [f"{class_names[p]} ({confidence_text(c)})" for p, c in zip(pred, conf, strict=True)]
    if show_true:
        titles = [f"true: {class_names[t]}\npred: {text}" for t, text in zip(true, titles, strict=True)]
    if title is None and not show_true and single_class:
        title = f"True class '{class_names[true[0]]}': predicted class (confidence)"
    return image_grid(batch, titles, ncols=ncols, title=title)
