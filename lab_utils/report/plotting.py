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
from lab_utils.errors import ConfigError, LabError
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

_GRAPHVIZ_HELP = (
    "keras.utils.plot_model wrote no image for {path}: it needs the pydot package and the Graphviz 'dot' "
    "program. Install them with `apt-get install graphviz` and `pip install pydot`, then rerun."
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
    stays readable. `plot_model` silently returns None without pydot/Graphviz inside IPython (and so under
    papermill); the missing figure is turned into a LabError here.

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
    with atomic_path(path) as tmp:
        try:
            keras.utils.plot_model(
                model, to_file=str(tmp), show_shapes=True, show_layer_names=True, expand_nested=False,
                show_trainable=show_trainable, rankdir=rankdir, dpi=dpi,
            )
        except ImportError as exc:
            raise LabError(_GRAPHVIZ_HELP.format(path=path) + f" ({exc})") from exc
        if tmp.stat().st_size == 0:  # atomic_path made the temp file; plot_model never wrote into it
            raise LabError(_GRAPHVIZ_HELP.format(path=path))
    return path
