"""tf.data's autotuner off on a CPU: with it on, TensorFlow trains some epochs at exactly half speed.

The measurements (which settings were tried, which one removed the half-speed epochs) are in
benchmarks/README.md, "TensorFlow's half-speed epochs on a CPU".
"""

from __future__ import annotations

from typing import Any

__all__ = ["dataset_options", "without_autotune"]


def dataset_options() -> Any:
    """`tf.data.Options` for every training/evaluation pipeline: autotune off (see the module docstring)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def without_autotune(dataset: Any) -> Any:
    """`dataset` with `dataset_options()` applied; the options cover the whole pipeline whatever stage gets them."""
    return dataset.with_options(dataset_options())
