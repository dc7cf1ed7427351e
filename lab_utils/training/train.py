"""The catalogue's runs, as the batch workers train them: build with lab_utils' builders, compile as the report
did, then the same `fit_or_load` a notebook's hand-written model goes through (lab_utils.training.fit)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras

from lab_utils.data.datasets import Dataset
from lab_utils.errors import ConfigError
from lab_utils.models.builders import build_model
from lab_utils.paths import runs_dir
from lab_utils.training import distribute, pipeline, runtime
from lab_utils.training.config import RunConfig
from lab_utils.training.fit import EVAL_BATCH, Run, fit_or_load

__all__ = ["EVAL_BATCH", "Execution", "Run", "build_and_compile", "build_catalogued", "build_for", "compile_model",
           "compile_options", "make_optimizer", "train"]


def build_for(config: RunConfig, data: Dataset) -> keras.Model:
    """Build the uncompiled model a config describes, shaped for `data`."""
    if config.dataset != data.name:
        raise ConfigError(f"config {config.experiment!r} is for dataset {config.dataset!r} but got {data.name!r}")
    return build_model(config.architecture, input_shape=data.input_shape, num_classes=data.num_classes,
                       **config.model_kwargs)


def make_optimizer(config: RunConfig) -> keras.optimizers.Optimizer:
    """SGD with momentum or Adam, at the configured (or the report's) learning rate."""
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.resolved_learning_rate, momentum=config.momentum)
    return keras.optimizers.Adam(learning_rate=config.resolved_learning_rate)


@dataclass(frozen=True)
class Execution:
    """How a run is compiled and executed on this device: the config's choices with "auto" resolved."""

    jit_compile: bool
    mixed_precision: bool
    steps_per_execution: int

    @classmethod
    def for_config(cls, config: RunConfig | None = None) -> Execution:
        """Resolve each None of the config from measurements per device (see lab_utils.training.runtime)."""
        def pick(value, default):
            return default() if value is None else value

        return cls(
            jit_compile=bool(pick(config and config.jit_compile, runtime.default_jit_compile)),
            mixed_precision=bool(pick(config and config.mixed_precision, runtime.default_mixed_precision)),
            steps_per_execution=int(pick(config and config.steps_per_execution, runtime.default_steps_per_execution)),
        )


def compile_options(execution: Execution | None = None) -> dict[str, object]:
    """`model.compile` arguments that change the speed on this device, never what is learned."""
    execution = execution or Execution.for_config()
    return {"jit_compile": execution.jit_compile, "steps_per_execution": execution.steps_per_execution}


def compile_model(model: keras.Model, config: RunConfig, execution: Execution | None = None) -> Execution:
    """Compile for integer labels with cross-entropy and accuracy; returns the execution choices used.

    Keras silently drops XLA for a model holding a layer that says it cannot be compiled (it warns once): the
    returned choices, and so the run record, say what Keras actually does.
    """
    execution = execution or Execution.for_config(config)
    model.compile(
        optimizer=make_optimizer(config),
        loss="sparse_categorical_crossentropy",  # = the report's categorical CE on one-hot labels
        metrics=["accuracy"],
        **compile_options(execution),
    )
    return dataclasses.replace(execution, jit_compile=bool(model.jit_compile))


def build_and_compile(config: RunConfig, data: Dataset) -> tuple[keras.Model, Execution]:
    """The compiled model of a config, built under the dtype policy its execution calls for."""
    execution = Execution.for_config(config)
    with pipeline.dtype_policy(execution.mixed_precision):
        model = build_for(config, data)
    return model, compile_model(model, config, execution)


def build_catalogued(config: RunConfig, data: Dataset) -> keras.Model:
    """Seed, then build and compile the model of `config`: the initial weights a notebook that seeds, then builds
    the same model, gets too (so both train alike and share the cache key)."""
    keras.utils.set_random_seed(int(config.seed))
    model, _ = build_and_compile(config, data)
    return model


def train(
    config: RunConfig,
    data: Dataset,
    *,
    runs_root: str | Path | None = None,
    verbose: int | str = 2,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    data_parallel: bool | None = None,
) -> Run:
    """Build the catalogued model of `config`, then train it on `data` or load the identical run from the cache.

    Args:
        config: what to train (model, optimizer, batch size, epochs, patience, seed).
        data: the dataset; its fingerprint is part of the cache key, so other data retrains.
        runs_root: the run cache folder (default `runs/`, or `LAB_RUNS_DIR`).
        verbose: passed to `Model.fit` (2 = one line per epoch, readable under papermill).
        callbacks: extra Keras callbacks (e.g. a progress bar).
        data_parallel: split every batch across all devices (lab_utils.training.distribute); None reads
            LAB_DATA_PARALLEL. Not part of the cache key: it changes the speed, not what is learned.

    Returns:
        A Run with the model (best weights restored), its record and folder.
    """
    with distribute.data_parallel(distribute.requested(data_parallel)):
        model = build_catalogued(config, data)
        return fit_or_load(model, config, data, runs_root=Path(runs_root) if runs_root is not None else runs_dir(),
                           verbose=verbose, callbacks=callbacks)
