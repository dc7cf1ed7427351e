"""The catalogue's models as the batch workers build them: lab_utils' builders, compiled as the report did.

A notebook writes the same models in Keras; both go through the same `fit_or_load` (lab_utils.training.fit),
called by the session (lab_utils.training.session)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras

from lab_utils.data.datasets import Dataset
from lab_utils.errors import ConfigError
from lab_utils.models.builders import build_model
from lab_utils.training import pipeline, runtime
from lab_utils.training.config import RunConfig

__all__ = [
    "Execution",
    "build_and_compile",
    "build_catalogued",
    "build_for",
    "compile_model",
    "compile_options",
    "make_optimizer",
]


def build_for(config: RunConfig, data: Dataset) -> keras.Model:
    """Build the uncompiled model a config describes, shaped for `data`."""
    if config.dataset != data.name:
        raise ConfigError(f"config {config.experiment!r} is for dataset {config.dataset!r} but got {data.name!r}")
    return build_model(
        config.architecture, input_shape=data.input_shape, num_classes=data.num_classes, **config.model_kwargs
    )


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
            mixed_precision=bool(config and config.mixed_precision),  # float32, as the notebooks' models, unless asked
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
