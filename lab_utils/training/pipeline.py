"""The input pipeline: uint8 images go to the device as they are and are scaled there, never on the host.

Models start with a Rescaling (or ImageNet preprocessing) layer and do their augmentation in the training step
(lab_utils.data.augment), so the host only slices and shuffles bytes: 4× less to copy than float32, and nothing for
the accelerator to wait on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from lab_utils.training import cpu, runtime


def training_input(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, shuffle: bool = True) -> Any:
    """What `Model.fit` should get as its `x` for these arrays on the active backend.

    TensorFlow: a tf.data pipeline (seeded shuffle of the whole set each epoch, batch, prefetch) so the next
    batch is ready while the current one trains. JAX with an accelerator: the arrays placed on the device
    once; Keras then slices batches there. Elsewhere: the arrays, batched by Keras.
    """
    backend = runtime.backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        # tf.data's autotuner sometimes drops TF on 2 CPU cores into a half-speed mode: off (lab_utils.training.cpu).
        return cpu.without_autotune(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))
    if backend == "jax" and runtime.accelerator() is not None:
        import jax

        return jax.device_put(x), jax.device_put(y)
    return x, y


def fit_arguments(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, shuffle: bool = True) -> dict:
    """Keyword arguments for `Model.fit`/`evaluate`: `x`, plus `y` and `batch_size` unless x is a tf.data pipeline."""
    data = training_input(x, y, batch_size=batch_size, seed=seed, shuffle=shuffle)
    if isinstance(data, tuple):
        return {"x": data[0], "y": data[1], "batch_size": batch_size}
    return {"x": data}


def validation_arguments(x: np.ndarray, y: np.ndarray, *, batch_size: int) -> dict:
    """`Model.fit`'s `validation_data` and `validation_batch_size` for these arrays, in order (no shuffle)."""
    val = fit_arguments(x, y, batch_size=batch_size, seed=0, shuffle=False)
    return {
        "validation_data": (val["x"], val["y"]) if "y" in val else val["x"],
        "validation_batch_size": val.get("batch_size"),
    }


@contextlib.contextmanager
def dtype_policy(mixed_precision: bool) -> Iterator[None]:
    """Build layers under "mixed_bfloat16" (bf16 compute, float32 weights) when asked, then restore the policy.

    Layers read the global policy when they are created, so the scope only needs to cover model building.
    """
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
