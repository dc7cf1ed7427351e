"""Charts of data and training (Figs. 2, 7, 8, 10, 11): class counts, learning curves, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lab_utils.errors import ConfigError

# (history key, axis label) of the two panels of every learning-curve figure.
CURVES = (("loss", "Loss (cross-entropy)"), ("accuracy", "Accuracy"))
BEST_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1.2}


def _root_figure(ax: Axes) -> Figure:
    """The top-level Figure of `ax`, also when `ax` lives in a SubFigure."""
    return ax.figure.figure


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Draw on the caller's axes, or on a fresh figure of `figsize`."""
    if ax is not None:
        return _root_figure(ax), ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def plot_class_distribution(
    counts: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Fig. 2: images per class in each split as grouped bars, so an imbalance would stand out.

    Args:
        counts: split name -> images per class, e.g. {"train": ..., "validation": ..., "test": ...}
            (`np.bincount(labels, minlength=10)`).
        class_names: names in class-id order.
    """
    if not counts:
        raise ConfigError("counts is empty: pass {'train': per_class_counts, ...}")
    arrays = {split: np.asarray(c).reshape(-1) for split, c in counts.items()}
    for split, c in arrays.items():
        if len(c) != len(class_names):
            raise ConfigError(f"split {split!r} has {len(c)} counts for {len(class_names)} classes")
    fig, ax = _new_axes(ax, (max(6.0, 0.9 * len(class_names)), 3.8))
    x = np.arange(len(class_names))
    width = 0.8 / len(arrays)
    for i, (split, c) in enumerate(arrays.items()):
        ax.bar(x + (i - (len(arrays) - 1) / 2) * width, c, width, label=f"{split} ({int(c.sum()):,})")
    ax.set_xticks(x, [str(name) for name in class_names])
    ax.set_xlabel("Class")
    ax.set_ylabel("Images")
    ax.set_ylim(0, 1.25 * max(float(c.max()) for c in arrays.values()) or 1.0)  # headroom for the legend
    ax.legend(title="split (total images)", loc="upper center", ncols=len(arrays), fontsize=9)
    ax.set_title(title or "Images per class in each split")
    return fig


def _history_arrays(history: Any) -> dict[str, np.ndarray]:
    """Per-epoch series as float arrays; accepts a dict or a keras `History` (its `.history`)."""
    history = getattr(history, "history", history)
    if not isinstance(history, Mapping):
        raise ConfigError(f"expected a dict of per-epoch lists (History.history), got {type(history).__name__}")
    missing = [key for key, _ in CURVES if key not in history]
    if missing:
        raise ConfigError(
            f"history lacks {missing} (has {sorted(history)}): compile the model with metrics=['accuracy']"
        )
    arrays = {key: np.asarray(values, dtype=float).reshape(-1) for key, values in history.items()}
    n = len(arrays["loss"])
    ragged = {key: len(a) for key, a in arrays.items() if len(a) != n}
    if n == 0 or ragged:
        raise ConfigError(f"history needs the same number (≥ 1) of epochs per key: loss has {n}, {ragged}")
    return arrays


def best_epoch(history: Any, monitor: str = "val_loss") -> int | None:
    """The 1-based epoch EarlyStopping(restore_best_weights=True) restores: argmin of a loss, argmax otherwise.

    None when `monitor` is absent or all-NaN (e.g. trained without validation data).
    """
    values = _history_arrays(history).get(monitor)
    if values is None or np.all(np.isnan(values)):
        return None
    pick = np.nanargmin if "loss" in monitor else np.nanargmax
    return int(pick(values)) + 1


def _seed_histories(history: Any) -> list[dict[str, np.ndarray]]:
    """One run's history, or a list of histories (one per seed) of the same run."""
    if isinstance(history, Sequence) and not isinstance(history, (str, bytes)):
        if not history:
            raise ConfigError("the list of histories is empty: pass one History.history per seed")
        return [_history_arrays(h) for h in history]
    return [_history_arrays(history)]


def _mean_band(series: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-epoch mean, std (NaN where one seed is left: no band) and seed count over the seeds still training."""
    padded = np.full((len(series), max(len(a) for a in series)), np.nan)
    for row, values in zip(padded, series, strict=True):
        row[: len(values)] = values
    count = np.sum(~np.isnan(padded), axis=0)
    mean = np.nanmean(padded, axis=0)
    std = np.array([np.nanstd(col, ddof=1) if n > 1 else np.nan for col, n in zip(padded.T, count, strict=True)])
    return mean, std, count


def _plot_curve(ax: Axes, seeds: Sequence[Mapping[str, np.ndarray]], key: str, label: str) -> None:
    """Train vs. validation of one metric over epochs 1..n with the restored epoch dashed; over several seeds, the
    mean with a ± 1 std band, dotted where only some seeds were still training."""
    for split, series_key in (("train", key), ("validation", f"val_{key}")):
        series = [arrays[series_key] for arrays in seeds if series_key in arrays]
        if not series:
            continue
        mean, std, count = _mean_band(series)
        epochs = np.arange(1, len(mean) + 1)
        if len(seeds) == 1:
            ax.plot(epochs, mean, marker=".", label=split)
            continue
        every = int(np.sum(count == len(series)))  # early stopping ends seeds one by one: a prefix has them all
        (line,) = ax.plot(epochs[:every], mean[:every], label=f"{split}, mean ± std of {len(seeds)} seeds")
        if every < len(mean):  # where some seeds had stopped, the mean of the rest jumps: drawn dotted
            ax.plot(
                epochs[every - 1 :],
                mean[every - 1 :],
                linestyle=":",
                color=line.get_color(),
                label="(dotted: seeds that had not stopped yet)" if split == "validation" else None,
            )
        ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    bests = [b for b in map(best_epoch, seeds) if b is not None]
    for i, best in enumerate(bests):
        text = (
            f"best epoch {best} (restored)"
            if len(seeds) == 1
            else f"best epoch of each seed: {', '.join(map(str, bests))} (restored)"
        )
        ax.axvline(best, label=text if i == 0 else None, **BEST_STYLE)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Epoch")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


HistoryOrSeeds = Mapping[str, Sequence[float]] | Sequence[Mapping[str, Sequence[float]]]


def plot_history(history: HistoryOrSeeds, *, title: str | None = None) -> Figure:
    """Figs. 7 and 10: loss and accuracy per epoch, train vs. validation, best (restored) epoch marked.

    Args:
        history: `History.history` with "loss", "accuracy" and usually "val_loss", "val_accuracy"; or a list of
            them, one per seed of the same run, drawn as the mean with a ± 1 std band.
        title: figure title.
    """
    seeds = _seed_histories(history)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
    for ax, (key, label) in zip(axes, CURVES, strict=True):
        _plot_curve(ax, seeds, key, label)
    if title:
        fig.suptitle(title)
    return fig


def plot_history_comparison(histories: Mapping[str, HistoryOrSeeds], *, title: str | None = None) -> Figure:
    """Fig. 7 (a)-(d): one row per model, loss | accuracy, each column on one y-scale so overfitting compares.

    Args:
        histories: model name -> `History.history`, or a list of them (one per seed), e.g.
            {"Simple CNN": h1, "Simple CNN + Dropout": [h2_seed0, h2_seed1, h2_seed2]}.
        title: figure title.
    """
    if not histories:
        raise ConfigError("histories is empty: pass {'model name': history.history, ...}")
    fig, axes = plt.subplots(
        len(histories),
        2,
        figsize=(10.0, 3.3 * len(histories)),
        sharex="col",
        sharey="col",
        squeeze=False,
        layout="constrained",
    )
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    for row, (name, history) in zip(axes, histories.items(), strict=True):
        seeds = _seed_histories(history)
        for ax, (key, label) in zip(row, CURVES, strict=True):
            _plot_curve(ax, seeds, key, label)
            ax.set_title(f"({next(letters, '?')}) {name}: {key}")
            ax.xaxis.set_tick_params(labelbottom=True)
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(
    cm: np.ndarray,
    class_names: Sequence[str],
    *,
    normalize: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Figs. 8 and 11: a heatmap of the confusion matrix, by default as % of each true class (rows sum to 100).

    Args:
        cm: counts, rows = true class, columns = predicted (`sklearn.metrics.confusion_matrix`).
        class_names: names in class-id order.
        normalize: show row percentages (0 decimals) instead of counts.
        title: axes title.
        ax: draw here instead of on a new figure.
    """
    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape != (len(class_names), len(class_names)):
        raise ConfigError(f"confusion matrix of shape {counts.shape} does not match {len(class_names)} class names")
    if np.any(counts < 0):
        raise ConfigError("confusion matrix has negative entries: pass counts")
    if normalize:
        totals = counts.sum(axis=1, keepdims=True).astype(float)
        values = np.divide(100.0 * counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        style = {"fmt": ".0f", "vmin": 0.0, "vmax": 100.0, "cbar_kws": {"label": "% of true class"}}
    else:
        values = counts
        integral = np.issubdtype(counts.dtype, np.integer)
        style = {"fmt": "d" if integral else ".0f", "cbar_kws": {"label": "images"}}
    size = max(5.0, 0.6 * len(class_names) + 1.5)
    fig, ax = _new_axes(ax, (size + 1.0, size))
    names = [str(name) for name in class_names]
    sns.heatmap(
        values,
        annot=True,
        cmap="Blues",
        square=True,
        xticklabels=names,
        yticklabels=names,
        annot_kws={"fontsize": 8},
        ax=ax,
        **style,
    )
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    if title:
        ax.set_title(title)
    return fig
