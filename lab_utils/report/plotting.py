"""The report's figures: one import for every plot helper, `save_figure`, and the architecture diagrams.

Helpers return a `matplotlib.figure.Figure` and never call `plt.show()`; `save_figure` writes it under
`figures/` atomically and closes it, so make `fig` the cell's last line to also see it in a notebook.
Importing this module changes no rcParams and does not import Keras (only `plot_architecture` does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lab_utils.atomic import atomic_path
from lab_utils.errors import ConfigError
from lab_utils.report.plot_images import (
    image_grid,
    plot_augmentations,
    plot_mnist_samples,
    plot_predictions,
    plot_samples_per_class,
)
from lab_utils.report.plot_training import (
    best_epoch,
    plot_class_distribution,
    plot_confusion_matrix,
    plot_history,
    plot_history_comparison,
)
from lab_utils.report.tables import output_path

__all__ = [
    "best_epoch",
    "image_grid",
    "plot_architecture",
    "plot_augmentations",
    "plot_class_distribution",
    "plot_confusion_matrix",
    "plot_history",
    "plot_history_comparison",
    "plot_mnist_samples",
    "plot_predictions",
    "plot_samples_per_class",
    "save_figure",
]

FIGURE_DPI = 120
ARCHITECTURE_DPI = 96  # plot_model's default of 200 makes a 3-block VGG diagram several thousand pixels tall

GRAPHVIZ_HINT = (
    "{path}: drawn without Graphviz (no `dot` program or pydot here). For the Graphviz version: "
    "`apt-get install graphviz` (macOS: `brew install graphviz`, conda: `conda install graphviz`) and "
    "`pip install pydot`, then rerun."
)


def save_figure(fig: Figure, name: str, folder: str | os.PathLike = "figures", *, dpi: int = FIGURE_DPI) -> Path:
    """Write `fig` to `folder/name.png` atomically (no half-written PNG if it fails), close it, return the path.

    Args:
        fig: the figure a plot helper returned.
        name: plain file stem such as "fig01_mnist_samples" (".png" is added).
        folder: output folder, created if needed.
        dpi: resolution; the bounding box is cropped to the drawn content.
    """
    if not isinstance(fig, Figure):
        raise ConfigError(f"save_figure needs a matplotlib Figure, got {type(fig).__name__} (use ax.figure)")
    path = output_path(name, folder, ".png")
    try:
        with atomic_path(path) as tmp:
            # No "Software" stamp: the same figure gives the same bytes across matplotlib patch releases.
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def plot_architecture(
    model: Any,
    path: str | os.PathLike,
    *,
    dpi: int = ARCHITECTURE_DPI,
    show_trainable: bool | None = None,
    rankdir: str = "TB",
) -> Path:
    """Figs. 4 and 5: the model's layer graph with shapes, written atomically with `keras.utils.plot_model`.

    Nested models (the "augmentation" Sequential, a VGG19 base) are drawn as one box each, so the diagram
    stays readable. Without pydot or Graphviz's `dot` (a laptop, Colab without apt) the same figure is drawn by
    `layer_stack_figure` with matplotlib, and one printed line says how to get the Graphviz version.

    Args:
        model: a built keras model.
        path: output file; ".png" is added when it has no suffix (".svg", ".pdf" also work).
        dpi: resolution.
        show_trainable: add a Trainable / Non-trainable column; None shows it when some layer is frozen.
        rankdir: "TB" (top to bottom) or "LR".

    Returns:
        The written path.
    """
    import keras  # here, not at module top: importing the backend takes seconds

    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    if not getattr(model, "built", False):
        name = getattr(model, "name", model)
        raise ConfigError(f"model {name!r} is not built: give it a keras.Input or call it on a batch once")
    if show_trainable is None:
        show_trainable = any(not layer.trainable for layer in model.layers)
    if graphviz_available():
        try:
            with atomic_path(path) as tmp:
                keras.utils.plot_model(
                    model,
                    to_file=str(tmp),
                    show_shapes=True,
                    show_layer_names=True,
                    expand_nested=False,
                    show_trainable=show_trainable,
                    rankdir=rankdir,
                    dpi=dpi,
                )
                if tmp.stat().st_size == 0:  # plot_model only printed its complaint (trap 6): fall back below
                    raise ImportError("plot_model wrote nothing")
            return path
        except ImportError:
            pass
    print(GRAPHVIZ_HINT.format(path=path.name))
    return save_figure(layer_stack_figure(model, show_trainable=show_trainable), path.stem, path.parent, dpi=dpi)


def graphviz_available() -> bool:
    """pydot importable and Graphviz's `dot` on PATH: what keras.utils.plot_model needs to write an image."""
    import importlib.util
    import shutil

    return importlib.util.find_spec("pydot") is not None and shutil.which("dot") is not None


def _shape(tensor: Any) -> str:
    """A tensor's shape without the batch axis, e.g. "28×28×32"; "?" when Keras cannot say."""
    try:
        shape = tuple(tensor.shape)[1:]
    except (AttributeError, ValueError):
        return "?"
    return "×".join("?" if d is None else str(d) for d in shape) or "scalar"


def layer_stack_figure(model: Any, *, show_trainable: bool = False) -> Figure:
    """The model's layers top to bottom as boxes (name, class, output shape, parameters), joined by arrows:
    Fig. 4/5 drawn by matplotlib alone, for machines without Graphviz. Nested models are one box each."""
    rows = [("input", "Input", _shape(model.inputs[0]), None, True)]
    rows += [
        (
            layer.name,
            type(layer).__name__,
            _shape(getattr(layer, "output", None)),
            layer.count_params(),
            layer.trainable,
        )
        for layer in model.layers
        if type(layer).__name__ != "InputLayer"
    ]
    fig, ax = plt.subplots(figsize=(4.6, 0.62 * len(rows) + 0.3))
    ax.set(xlim=(0, 1), ylim=(len(rows), 0))
    ax.axis("off")
    for i, (name, kind, shape, params, trainable) in enumerate(rows):
        colour = "#dbe9f6" if trainable or not show_trainable else "#eeeeee"
        ax.add_patch(plt.Rectangle((0.05, i + 0.12), 0.9, 0.66, facecolor=colour, edgecolor="#333", lw=1))
        detail = f"{kind} → {shape}" + (f" · {params:,} params" if params else "")
        if show_trainable and not trainable:
            detail += " · frozen"
        ax.text(0.5, i + 0.36, name, ha="center", va="center", fontsize=9, weight="bold")
        ax.text(0.5, i + 0.6, detail, ha="center", va="center", fontsize=8)
        if i:
            ax.annotate("", xy=(0.5, i + 0.12), xytext=(0.5, i - 0.22), arrowprops={"arrowstyle": "->", "lw": 1})
    ax.set_title(f"{model.name}: {model.count_params():,} parameters", fontsize=9)
    return fig
