"""Data-parallel training with the engines Keras users already know: MirroredStrategy (TF), DataParallel (JAX).

Each device holds a full copy of the model and gets an equal slice of every global batch; gradients are
averaged across devices before the update, so one step matches a single-device step on the whole batch
(up to floating-point summation order, and per-device batch-norm statistics).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

from lab_utils import settings
from lab_utils.errors import ConfigError
from lab_utils.training import runtime

ENV_SWITCH = "LAB_DATA_PARALLEL"  # "1" turns data parallelism on for notebooks and run_all.sh (lab_utils.settings)


def requested(value: bool | None = None) -> bool:
    """An explicit choice wins; None reads the LAB_DATA_PARALLEL environment variable."""
    if value is not None:
        return bool(value)
    return settings.flag(ENV_SWITCH)


def devices() -> list[str]:
    """The devices data parallelism spreads over: every GPU, else every (logical) CPU device."""
    backend = runtime.backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [d.name for d in found]
    if backend == "jax":
        import keras

        gpus = keras.distribution.list_devices("gpu") if runtime.accelerator() else []
        return list(gpus or keras.distribution.list_devices("cpu"))
    raise ConfigError(f"data-parallel training is implemented for tensorflow and jax, not {backend}")


@functools.cache
def _initialize_jax_cluster() -> None:
    """Join the multi-host JAX cluster described by the KERAS_DISTRIBUTION_* variables (once per process)."""
    import keras

    keras.distribution.initialize()


@contextlib.contextmanager
def data_parallel(enabled: bool) -> Iterator[int]:
    """Build, compile and fit inside this block to train on every device; yields the number of replicas.

    Disabled, it is a no-op yielding 1. Enabled with fewer than two devices, it refuses with the fix.
    """
    if not enabled:
        yield 1
        return
    names = devices()
    if len(names) < 2:
        raise ConfigError(
            f"data-parallel training needs at least 2 devices, found {names}. On a CPU, split it into virtual "
            "devices (TensorFlow: tf.config.set_logical_device_configuration; JAX: "
            "XLA_FLAGS=--xla_force_host_platform_device_count=2) or unset LAB_DATA_PARALLEL"
        )
    if runtime.backend_name() == "tensorflow":
        import tensorflow as tf

        # TF_CONFIG describes a cluster of workers: then every worker's devices join one all-reduce.
        multi_worker = bool(os.environ.get("TF_CONFIG"))
        strategy = (
            tf.distribute.MultiWorkerMirroredStrategy()
            if multi_worker
            else tf.distribute.MirroredStrategy(devices=names)
        )
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        import keras

        if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
            _initialize_jax_cluster()
            names = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=names)
        with distribution.scope():
            yield len(names)
