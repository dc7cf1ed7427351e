"""One `train` for every experiment: compile as the seed did, fit with early stopping, record, cache."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras

from lab_utils.training import claim, distribute, pipeline, runtime
from lab_utils.training.config import RunConfig
from lab_utils.data.datasets import Dataset
from lab_utils.errors import ConfigError
from lab_utils.models.builders import build_model, count_params
from lab_utils.paths import runs_dir
from lab_utils.training.records import WEIGHTS_FILE, RunRecord, load_record, run_dir, save_run

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
EVAL_BATCH = 256  # evaluation has no gradients to hold: larger batches are faster and change nothing


@dataclass
class Run:
    """A trained model with its record; `cached` says it was loaded rather than trained."""

    model: keras.Model
    record: RunRecord
    path: Path
    cached: bool

    @property
    def name(self) -> str:
        """The run's experiment name, as `lab.run` and `lab.predictions` accept it."""
        return self.record.config["experiment"]


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, for the record's seconds/epoch (the seed reports 6 s vs 27 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def build_for(config: RunConfig, data: Dataset, *, pretrained: bool = True) -> keras.Model:
    """Build the uncompiled model a config describes, shaped for `data`.

    With `pretrained=False` any ImageNet weights are skipped: used when the weights come from the run
    cache anyway, so a cached transfer run loads offline.
    """
    if config.dataset != data.name:
        raise ConfigError(f"config {config.experiment!r} is for dataset {config.dataset!r} but got {data.name!r}")
    kwargs = dict(config.model_kwargs)
    if not pretrained and "weights" in kwargs:
        kwargs["weights"] = None
    return build_model(config.architecture, input_shape=data.input_shape, num_classes=data.num_classes, **kwargs)


def make_optimizer(config: RunConfig) -> keras.optimizers.Optimizer:
    """SGD with momentum or Adam, at the configured (or the seed's) learning rate."""
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
    def for_config(cls, config: RunConfig) -> Execution:
        """Resolve each None of the config from measurements per device (see lab_utils.training.runtime)."""
        def pick(value, default):
            return default() if value is None else value

        return cls(
            jit_compile=bool(pick(config.jit_compile, runtime.default_jit_compile)),
            mixed_precision=bool(pick(config.mixed_precision, runtime.default_mixed_precision)),
            steps_per_execution=int(pick(config.steps_per_execution, runtime.default_steps_per_execution)),
        )


def compile_model(model: keras.Model, config: RunConfig, execution: Execution | None = None) -> Execution:
    """Compile for integer labels with cross-entropy and accuracy; returns the execution choices used.

    Keras silently drops XLA for a model holding a layer that says it cannot be compiled (it warns once): the
    returned choices, and so the run record, say what Keras actually does.
    """
    execution = execution or Execution.for_config(config)
    model.compile(
        optimizer=make_optimizer(config),
        loss="sparse_categorical_crossentropy",  # = the seed's categorical CE on one-hot labels
        metrics=["accuracy"],
        jit_compile=execution.jit_compile,
        steps_per_execution=execution.steps_per_execution,
    )
    return dataclasses.replace(execution, jit_compile=bool(model.jit_compile))


def build_and_compile(
    config: RunConfig, data: Dataset, *, pretrained: bool = True, weights: Path | None = None
) -> tuple[keras.Model, Execution]:
    """The compiled model of a config, built under the dtype policy its execution calls for.

    `weights` (a cached run's file) are loaded before compiling: the model is for inference, and loading into a
    compiled model would try to restore the saved optimizer state into an optimizer with no variables yet, which
    Keras refuses with a "Skipping variable loading for optimizer" warning. A fresh optimizer is right here.
    """
    execution = Execution.for_config(config)
    with pipeline.dtype_policy(execution.mixed_precision):
        model = build_for(config, data, pretrained=pretrained)
    if weights is not None:
        model.load_weights(weights)
    compile_model(model, config, execution)
    return model, execution


def train(
    config: RunConfig,
    data: Dataset,
    *,
    runs_root: str | Path | None = None,
    use_cache: bool = True,
    verbose: int | str = 2,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    data_parallel: bool | None = None,
) -> Run:
    """Train `config` on `data`, or load the identical run from the cache.

    Args:
        config: what to train (model, optimizer, batch size, epochs, patience, seed).
        data: the dataset; its fingerprint is part of the cache key, so other data retrains.
        runs_root: the run cache folder (default `runs/`, or `LAB_RUNS_DIR`).
        use_cache: False trains even when a matching run is saved (and overwrites it).
        verbose: passed to `Model.fit` (2 = one line per epoch, readable under papermill).
        callbacks: extra Keras callbacks (e.g. a progress bar).
        data_parallel: split every batch across all devices (lab_utils.training.distribute); None reads
            LAB_DATA_PARALLEL. Not part of the cache key: it changes the speed, not what is learned.

    Returns:
        A Run with the model (best weights restored), its record and folder.
    """
    root = Path(runs_root) if runs_root is not None else runs_dir()
    key = config.cache_key(data.fingerprint())
    folder = run_dir(root, config, key)

    def cached() -> RunRecord | None:
        return load_record(folder, key) if use_cache else None

    record = cached()
    if record is not None:
        return _load(config, data, folder, record)
    # Another process (a worker elsewhere, a notebook) may be training this very run: wait for it, then load.
    with claim.claimed(folder, done=lambda: cached() is not None, on_wait=_say_waiting(config)) as must_train:
        record = None if must_train else cached()
        if record is not None:
            return _load(config, data, folder, record)
        return _train_and_save(config, data, key, folder, verbose, callbacks, data_parallel)


def _load(config: RunConfig, data: Dataset, folder: Path, record: RunRecord) -> Run:
    """A cached run: the model rebuilt without ImageNet weights (offline), its saved weights loaded."""
    model, _ = build_and_compile(config, data, pretrained=False, weights=folder / WEIGHTS_FILE)
    return Run(model=model, record=record, path=folder, cached=True)


def _say_waiting(config: RunConfig):
    """The message printed once when another process holds the run's claim."""
    def say(info: dict) -> None:
        print(f"{config.experiment}: being trained by {info.get('host', '?')} (pid {info.get('pid', '?')}); "
              "waiting for it, then loading it from the run cache", flush=True)
    return say


def _train_and_save(
    config: RunConfig, data: Dataset, key: str, folder: Path, verbose: int | str,
    callbacks: Sequence[keras.callbacks.Callback], data_parallel: bool | None,
) -> Run:
    """Train, record and save one run (the caller holds its claim)."""
    deterministic = runtime.make_deterministic()
    keras.utils.set_random_seed(int(config.seed))
    with distribute.data_parallel(distribute.requested(data_parallel)) as replicas:
        model, execution = build_and_compile(config, data)
        fit, timer, test_loss, test_accuracy = _fit_and_test(model, config, data, verbose, callbacks)
    record = RunRecord(
        config=config.to_dict(),
        key=key,
        dataset={
            "name": data.name,
            "source": data.source,
            "fingerprint": data.fingerprint(),
            "train": int(len(data.y_train)),
            "validation": int(len(data.y_val)),
            "test": int(len(data.y_test)),
        },
        history={k: [float(v) for v in fit.history[k]] for k in HISTORY_KEYS if k in fit.history},
        epoch_seconds=[round(s, 4) for s in timer.seconds],
        best_epoch=_best_epoch(fit.history, config.monitor),
        params=count_params(model),
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        backend=runtime.backend_name(),
        device=runtime.device_description(),
        jit_compile=execution.jit_compile,
        mixed_precision=execution.mixed_precision,
        steps_per_execution=execution.steps_per_execution,
        replicas=replicas,
        cpu_threads=runtime.cpu_threads(),
        deterministic=deterministic,
        versions=runtime.versions(),
        git_commit=runtime.git_commit(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    save_run(folder, record, model)
    return Run(model=model, record=record, path=folder, cached=False)


def _fit_and_test(
    model: keras.Model, config: RunConfig, data: Dataset, verbose: int | str,
    callbacks: Sequence[keras.callbacks.Callback],
) -> tuple[keras.callbacks.History, EpochTimer, float, float]:
    """Fit with early stopping (best weights restored), then evaluate once on the test set."""
    stopper = keras.callbacks.EarlyStopping(
        monitor=config.monitor, patience=config.patience, restore_best_weights=True, verbose=0
    )
    timer = EpochTimer()
    train_input = pipeline.fit_arguments(data.x_train, data.y_train, batch_size=config.batch_size, seed=config.seed)
    val_input = pipeline.fit_arguments(data.x_val, data.y_val, batch_size=EVAL_BATCH, seed=0, shuffle=False)
    fit = model.fit(
        **train_input,
        shuffle="y" in train_input,  # a tf.data pipeline shuffles itself (seeded); Keras would only warn
        epochs=config.epochs,
        validation_data=(val_input["x"], val_input["y"]) if "y" in val_input else val_input["x"],
        validation_batch_size=val_input.get("batch_size"),
        callbacks=[stopper, timer, keras.callbacks.TerminateOnNaN(), *callbacks],
        verbose=verbose,
    )
    test_input = pipeline.fit_arguments(data.x_test, data.y_test, batch_size=EVAL_BATCH, seed=0, shuffle=False)
    test_loss, test_accuracy = model.evaluate(**test_input, verbose=0)
    return fit, timer, float(test_loss), float(test_accuracy)


def _best_epoch(history: dict, monitor: str) -> int:
    """1-based epoch whose weights EarlyStopping restored."""
    values = history.get(monitor) or []
    if not values:
        return 0
    best = min(values) if monitor.endswith("loss") else max(values)
    return values.index(best) + 1
