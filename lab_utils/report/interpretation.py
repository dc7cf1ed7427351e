"""See Keras at work: a convolution, learned kernels, feature maps, training vs inference mode, occlusion saliency.

The notebook runs the Keras — `keras.ops.conv`, `model.get_layer("conv1").kernel`,
`keras.Model(model.inputs, model.get_layer("conv1").output)`, `layer(x, training=True)` — and these helpers only
draw the arrays it got back, so what a student reads is the Keras that ran. The one helper that calls a model is
`occlusion_map`: occlusion sensitivity (Zeiler & Fergus, 2014) needs nothing but predictions, so it runs the same
on TensorFlow and JAX, with no gradient and no backend-specific code.

Every plot returns a `matplotlib.figure.Figure` and never calls `plt.show()`; pass it to `lab.save_figure`.
Keras is imported only inside the functions that need it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lab_utils.errors import ConfigError
from lab_utils.report.plot_images import CELL_INCHES, as_image_batch, as_labels, confidence_text

__all__ = [
    "occlusion_map",
    "plot_convolution",
    "plot_feature_maps",
    "plot_kernels",
    "plot_saliency",
    "plot_training_vs_inference",
]

DIVERGING = "RdBu_r"  # signed values (kernels, saliency): red positive, blue negative, white zero
OCCLUSION_CHUNK = 4096  # occluded images per predict call (50 MB for CIFAR-10): few calls, bounded memory


def to_numpy(x: Any) -> np.ndarray:
    """A backend tensor (TensorFlow, JAX), a Keras variable or an array, as a NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    import keras

    if isinstance(x, keras.Variable):
        return np.asarray(x.numpy())  # convert_to_numpy of a TensorFlow variable warns (NumPy 2 copy keyword)
    return np.asarray(keras.ops.convert_to_numpy(x))


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, ncols: int, *, cell: float = 1.1, extra_height: float = 0.5) -> tuple[Figure, np.ndarray]:
    """A constrained figure with n panels in rows of `ncols` (unused panels switched off)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * cell, nrows * cell + extra_height), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    return fig, axes.flat[:n]


def _one_image(x: Any, what: str) -> np.ndarray:
    """(H, W) or (H, W, C) from an image with an optional batch axis of 1."""
    a = to_numpy(x)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3):
        raise ConfigError(f"{what} must be one image (H, W), (H, W, C) or (1, H, W, C); got shape {a.shape}")
    return a


def plot_convolution(image: Any, kernel: Any, output: Any, *, title: str | None = None) -> Figure:
    """Input, kernel (its numbers written in) and output of one convolution, side by side.

    Args:
        image: the input, one grey image (H, W[, 1]) with an optional batch axis.
        kernel: (kh, kw[, 1, 1]) — the array passed to `keras.ops.conv`.
        output: what `keras.ops.conv` returned (signed: drawn red for positive, blue for negative).
        title: figure title.
    """
    img, out = _one_image(image, "image"), _one_image(output, "output")
    k = to_numpy(kernel)
    if k.ndim == 4 and k.shape[2:] == (1, 1):
        k = k[..., 0, 0]
    if k.ndim != 2:
        raise ConfigError(f"kernel must be (kh, kw) or (kh, kw, 1, 1); got shape {to_numpy(kernel).shape}")
    fig, (a_in, a_k, a_out) = plt.subplots(
        1, 3, figsize=(9, 3.3), layout="constrained", gridspec_kw={"width_ratios": [1, 0.8, 1.2]}
    )
    a_in.imshow(img, cmap="gray")
    a_in.set_title(f"input {img.shape[0]}×{img.shape[1]}")
    limit = float(np.abs(k).max()) or 1.0
    a_k.imshow(k, cmap=DIVERGING, vmin=-limit, vmax=limit)
    for (i, j), value in np.ndenumerate(k):
        a_k.text(
            j,
            i,
            f"{value:g}",
            ha="center",
            va="center",
            fontsize=10,
            color="white" if abs(value) > 0.6 * limit else "black",
        )
    a_k.set_title(f"kernel {k.shape[0]}×{k.shape[1]}")
    limit = float(np.abs(out).max()) or 1.0
    shown = a_out.imshow(out, cmap=DIVERGING, vmin=-limit, vmax=limit)
    a_out.set_title(f"output {out.shape[0]}×{out.shape[1]}")
    fig.colorbar(shown, ax=a_out, shrink=0.8)
    for ax in (a_in, a_k, a_out):
        _bare(ax)
    if title:
        fig.suptitle(title)
    return fig


def plot_kernels(kernels: Any, *, ncols: int = 8, title: str | None = None) -> Figure:
    """The kernels of a Conv2D layer (`layer.kernel`, shape (kh, kw, in, out)), one panel per output filter.

    Grey input (in = 1): signed values on one shared red/blue scale, so strong and weak filters compare.
    Colour input (in = 3): each filter drawn as an RGB patch, min-max scaled on its own.
    """
    w = to_numpy(kernels)
    if w.ndim != 4 or w.shape[2] not in (1, 3):
        raise ConfigError(
            f"kernels must be a Conv2D kernel (kh, kw, 1 or 3, filters) — the first layer's "
            f"`model.get_layer(name).kernel`; got shape {w.shape}"
        )
    filters = w.shape[-1]
    fig, axes = _grid(filters, ncols, cell=0.9)
    limit = float(np.abs(w).max()) or 1.0
    for i, ax in enumerate(axes):
        k = w[..., i]
        if k.shape[-1] == 1:
            ax.imshow(k[..., 0], cmap=DIVERGING, vmin=-limit, vmax=limit)
        else:
            span = float(np.ptp(k)) or 1.0
            ax.imshow((k - k.min()) / span)
        ax.set_title(str(i), fontsize=8)
        _bare(ax)
    fig.suptitle(title or f"{filters} learned kernels, {w.shape[0]}×{w.shape[1]}")
    return fig


def plot_feature_maps(maps: Any, *, image: Any = None, ncols: int = 8, title: str | None = None) -> Figure:
    """Each channel of one layer output (H, W, C) — e.g. `keras.Model(model.inputs, layer.output)(x)[0]` —
    as a small image (each on its own scale), after the input image if given."""
    m = to_numpy(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ConfigError(f"maps must be one image's layer output (H, W, C) or (1, H, W, C); got shape {m.shape}")
    panels = ([_one_image(image, "image")] if image is not None else []) + [m[..., c] for c in range(m.shape[-1])]
    fig, axes = _grid(len(panels), ncols, cell=1.0)
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        is_input = image is not None and i == 0
        ax.imshow(
            as_image_batch(panel[None])[0].squeeze() if is_input else panel, cmap="gray" if is_input else "viridis"
        )
        ax.set_title("input" if is_input else str(i - (image is not None)), fontsize=8)
        _bare(ax)
    fig.suptitle(title or f"{m.shape[-1]} feature maps, {m.shape[0]}×{m.shape[1]} (bright: strong response)")
    return fig


def _is_image_batch(a: np.ndarray) -> bool:
    return a.ndim == 4 and a.shape[-1] in (1, 3)


def _stats(a: np.ndarray) -> str:
    return f"mean {a.mean():.2f}, std {a.std():.2f}, zeros {100 * np.mean(a == 0):.0f}%"


def plot_training_vs_inference(
    inputs: Any, training: Any, inference: Any, *, n: int = 6, title: str | None = None
) -> Figure:
    """One batch through a layer called with `training=True` and `training=False`, drawn one above the other.

    Images (n, H, W, 1 or 3) — e.g. augmentation layers — are drawn as images, `n` of them per row. Anything
    else — Dropout or BatchNormalization activations — is drawn as a heat map of batch × features (flattened),
    each row on its own colour scale, titled with its mean, standard deviation and share of zeros, which are exactly
    what those layers change.
    """
    rows = {"input": to_numpy(inputs), "training=True": to_numpy(training), "training=False": to_numpy(inference)}
    shapes = {name: a.shape for name, a in rows.items()}
    if len(set(shapes.values())) != 1 and not all(_is_image_batch(a) for a in rows.values()):
        raise ConfigError(
            f"inputs and both outputs must have the same shape (one batch through one layer); got {shapes}"
        )
    if all(_is_image_batch(a) for a in rows.values()):
        count = min(n, len(rows["input"]))
        fig, axes = plt.subplots(
            3, count, figsize=(count * CELL_INCHES, 3 * CELL_INCHES + 0.4), squeeze=False, layout="constrained"
        )
        for r, (name, a) in enumerate(rows.items()):
            batch = as_image_batch(a[:count])
            for c in range(count):
                axes[r, c].imshow(batch[c].squeeze(), cmap="gray" if batch.shape[-1] == 1 else None)
                _bare(axes[r, c])
            axes[r, 0].set_ylabel(name, fontsize=10)
    else:
        flat = {name: a.reshape(len(a), -1) for name, a in rows.items()}
        fig, axes = plt.subplots(3, 1, figsize=(8, 5.5), layout="constrained", squeeze=False)
        for ax, (name, a) in zip(axes[:, 0], flat.items(), strict=True):
            limit = float(np.abs(a).max()) or 1.0  # each row its own scale: a standardised row next to 0..255 pixels
            shown = ax.imshow(a, cmap=DIVERGING, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
            ax.set_title(f"{name}: {_stats(a)}", fontsize=10)
            ax.set_ylabel("image")
            fig.colorbar(shown, ax=ax)
        axes[-1, 0].set_xlabel("feature")
    if title:
        fig.suptitle(title)
    return fig


def _probabilities(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """`model.predict` through the lab's input pipeline (lab_utils.report.evaluation.predict explains why)."""
    from lab_utils.report.evaluation import predict

    return predict(model, x, np.zeros(len(x), dtype=np.int64), batch_size=batch_size).probs


def occlusion_map(
    model: Any,
    images: Any,
    classes: Sequence[int] | None = None,
    *,
    patch: int | None = None,
    stride: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Occlusion sensitivity: how much the model's probability for a class drops when a square is hidden.

    A `patch`×`patch` square filled with the image's mean colour slides over each image with `stride`; each
    occluded copy is predicted, and each pixel gets the mean drop `p(original) - p(occluded)` over the squares
    that covered it. Positive: hiding it hurts the class (evidence for it); negative: hiding it helps.

    Args:
        model: a Keras model taking the images as given and returning class probabilities.
        images: (n, H, W, C) in the model's input range (raw 0..255 pixels for the lab's models).
        classes: the class to explain for each image; None = the model's own prediction.
        patch: side of the square; None = a quarter of the image side (8 px on CIFAR-10).
        stride: step between squares; None = patch // 4 (at least 1).
        batch_size: images per `model.predict` batch.

    Returns:
        (n, H, W) float32 maps, one per image.
    """
    x = to_numpy(images).astype(np.float32)
    if x.ndim != 4:
        raise ConfigError(f"images must be a batch (n, H, W, C); got shape {x.shape}")
    n, height, width, _ = x.shape
    patch = patch or max(1, min(height, width) // 4)
    stride = stride or max(1, patch // 4)
    if not (0 < patch <= min(height, width) and stride > 0):
        raise ConfigError(f"patch={patch} must fit in the {height}×{width} image and stride={stride} be positive")
    base = _probabilities(model, x, batch_size)
    targets = base.argmax(axis=1) if classes is None else np.asarray(classes, dtype=int).reshape(-1)
    if len(targets) != n:
        raise ConfigError(f"got {len(targets)} classes for {n} images: pass one class per image or None")
    corners = [(i, j) for i in range(0, height - patch + 1, stride) for j in range(0, width - patch + 1, stride)]
    per_call = max(1, OCCLUSION_CHUNK // len(corners))  # images whose occluded copies go in one predict call
    maps = np.zeros((n, height, width), np.float32)
    for start in range(0, n, per_call):
        chunk = range(start, min(n, start + per_call))
        occluded = np.repeat(x[chunk.start : chunk.stop], len(corners), axis=0)
        for c, k in enumerate(chunk):
            fill = x[k].mean(axis=(0, 1))
            for m, (i, j) in enumerate(corners):
                occluded[c * len(corners) + m, i : i + patch, j : j + patch] = fill
        probs = _probabilities(model, occluded, batch_size)
        for c, k in enumerate(chunk):
            drop = base[k, targets[k]] - probs[c * len(corners) : (c + 1) * len(corners), targets[k]]
            total, covered = np.zeros((height, width)), np.zeros((height, width))
            for d, (i, j) in zip(drop, corners, strict=True):
                total[i : i + patch, j : j + patch] += d
                covered[i : i + patch, j : j + patch] += 1
            maps[k] = total / np.maximum(covered, 1)
    return maps


def _overlay(saliency: np.ndarray, limit: float, alpha: float) -> np.ndarray:
    """RGBA of a signed map: red/blue by sign, opacity growing with |value| so the image shows where it is ~0."""
    rgba = plt.get_cmap(DIVERGING)(0.5 + 0.5 * np.clip(saliency / limit, -1, 1))
    rgba[..., 3] = alpha * np.clip(np.abs(saliency) / limit, 0, 1) ** 0.5
    return rgba


def plot_saliency(
    images: Any,
    maps: Any,
    *,
    true_labels: Any,
    probabilities: Any,
    class_names: Sequence[str],
    ncols: int = 3,
    alpha: float = 0.85,
    title: str | None = None,
) -> Figure:
    """Each image beside its saliency map laid over it, titled "true: cat / pred: dog (87%)".

    The map is signed and shares one red/blue scale across images: red where hiding the region lowered the
    explained class's probability (the model looked there), blue where it raised it.
    """
    batch = as_image_batch(to_numpy(images))
    m = to_numpy(maps)
    probs = to_numpy(probabilities)
    true = as_labels(to_numpy(true_labels))
    n = len(batch)
    if m.shape != batch.shape[:3] or probs.ndim != 2 or not len(probs) == len(true) == n:
        raise ConfigError(
            f"need one (H, W) map, one probability row and one true label per image: got {n} "
            f"images {batch.shape[1:3]}, maps {m.shape}, probabilities {probs.shape}, "
            f"{len(true)} labels"
        )
    pred = probs.argmax(axis=1)
    fig, axes = _grid(2 * n, 2 * ncols, cell=1.5, extra_height=0.4 * math.ceil(n / ncols) + 0.5)
    limit = float(np.abs(m).max()) or 1.0
    for k in range(n):
        image_ax, map_ax = axes[2 * k], axes[2 * k + 1]
        picture = batch[k].squeeze()
        cmap = "gray" if batch.shape[-1] == 1 else None
        image_ax.imshow(picture, cmap=cmap)
        image_ax.set_title(
            f"true: {class_names[true[k]]}\npred: {class_names[pred[k]]} ({confidence_text(float(probs[k, pred[k]]))})",
            fontsize=8,
        )
        map_ax.imshow(picture, cmap=cmap)
        map_ax.imshow(_overlay(m[k], limit, alpha))
        map_ax.set_title("occlusion map", fontsize=8)
        _bare(image_ax)
        _bare(map_ax)
    fig.suptitle(title or "Where the model looked: red = hiding it lowers the explained class's probability")
    return fig
