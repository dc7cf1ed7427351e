"""Fit a built, compiled Keras model once and keep it: the run cache for any model, written or catalogued.

The cache key is what determines the trained weights: the model's Keras config with its names taken out (a
student's copy of a catalogued model, named differently, is the same model), the weights its pretrained bases
start from, the optimizer and loss it was compiled with, the fit settings, the data and the seed. So a model
edited in a notebook, or a builder edited in lab_utils, trains under a new key and never loads a stale run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from lab_utils.data.datasets import Dataset
from lab_utils.errors import ConfigError
from lab_utils.models.builders import count_params
from lab_utils.training import pipeline, run_lock, runtime
from lab_utils.training.config import RunConfig
from lab_utils.training.records import WEIGHTS_FILE, RunRecord, load_record, run_dir, save_run
from lab_utils.training.signature import mixed_precision, model_signature, pretrained_fingerprint

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


def fit_or_load(
    model: keras.Model,
    config: RunConfig,
    data: Dataset,
    *,
    runs_root: Path,
    verbose: int | str = 2,
    starts_from: str | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Run:
    """Fit the compiled `model` with `fit_model` (seeded) and keep the run, or load the same run from the cache.

    Either way `model` ends up holding the trained weights. `starts_from` is the key of the run whose weights
    the model already holds (a second stage of fine-tuning), so it is part of this run's key.
    """
    key = run_key(model, config, data.fingerprint(), starts_from=starts_from)
    folder, record = find_run(Path(runs_root), config, key)
    if record is None:  # another process (a worker, a notebook) may be training it: wait for it, then load
        with run_lock.locked(
            folder, done=lambda: load_record(folder, key) is not None, on_wait=_say_waiting(config)
        ) as ours:
            if ours:
                deterministic = runtime.make_deterministic()
                keras.utils.set_random_seed(int(config.seed))  # the same shuffles everywhere
                reseed_random_layers(model, int(config.seed))  # ... and the same dropout masks and augmentations
                timer = EpochTimer()
                history = fit_model(model, data, config, verbose=verbose, callbacks=[timer, *callbacks])
                record = make_record(
                    model,
                    config,
                    data,
                    key,
                    history.history,
                    timer.seconds,
                    starts_from=starts_from,
                    deterministic=deterministic,
                )
                save_run(folder, record, model)
                return Run(model, record, folder, cached=False)
        record = load_record(folder, key)
    if not model.optimizer.built:  # the saved file holds the optimizer's state too: give it somewhere to go
        model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / WEIGHTS_FILE)
    return Run(model, record, folder, cached=True)


def fit_model(
    model: keras.Model,
    data: Dataset,
    config: RunConfig,
    *,
    verbose: int | str = 2,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """`model.fit` as the report trains: mini-batches, validation after every epoch, early stopping that keeps
    the best epoch's weights. The images go in as uint8 batches (lab_utils.training.pipeline), scaled on the device."""
    early_stopping = keras.callbacks.EarlyStopping(config.monitor, patience=config.patience, restore_best_weights=True)
    train = pipeline.fit_arguments(data.x_train, data.y_train, batch_size=config.batch_size, seed=config.seed)
    return model.fit(
        **train,  # x (and y, batch_size), shuffled each epoch with the run's seed
        epochs=config.epochs,
        **pipeline.validation_arguments(data.x_val, data.y_val, batch_size=EVAL_BATCH),
        callbacks=[early_stopping, keras.callbacks.TerminateOnNaN(), *callbacks],
        verbose=verbose,
        shuffle="y" in train,  # tf.data shuffles itself; Keras would only warn
    )


def find_run(runs_root: Path, config: RunConfig, key: str) -> tuple[Path, RunRecord | None]:
    """The run's folder and saved record (None: not in the cache). The same run saved under another experiment's
    name counts (notebook 03's head stage is Table II's row under `lesson`): its record is renamed to `config`'s."""
    folder = run_dir(runs_root, config, key)
    record = load_record(folder, key)
    if record is not None:
        return folder, record
    for other in sorted(runs_root.glob(f"*-{key}")):
        record = load_record(other, key)
        if record is not None:
            record.config = {**record.config, "experiment": config.experiment}
            return other, record
    return folder, None


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, for the record's seconds/epoch (the report compares 6 s with 27 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def require_compiled(model: keras.Model) -> None:
    """Raise ConfigError naming the fix when `model` was never compiled (its key needs the compile settings)."""
    if getattr(model, "optimizer", None) is None:
        raise ConfigError(
            f"model {model.name!r} is not compiled: call model.compile(optimizer=..., "
            "loss='sparse_categorical_crossentropy', metrics=['accuracy']) before lab.fit(model, ...)"
        )


def run_key(model: keras.Model, config: RunConfig, data_fingerprint: str, *, starts_from: str | None = None) -> str:
    """The cache key: a stable hash of everything that determines the trained weights (module docstring)."""
    require_compiled(model)
    payload = {
        "model": model_signature(model),
        "pretrained": pretrained_fingerprint(model),
        "mixed_precision": mixed_precision(model),
        "optimizer": {k: v for k, v in model.optimizer.get_config().items() if k != "name"}
        | {"class": type(model.optimizer).__name__},
        "loss": keras.losses.serialize(model.loss) if not isinstance(model.loss, str) else model.loss,
        "fit": {k: getattr(config, k) for k in ("batch_size", "epochs", "patience", "monitor", "seed")},
        "data": data_fingerprint,
        "starts_from": starts_from,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def reseed_random_layers(model: keras.Model, seed: int) -> None:
    """Give every random layer (dropout, augmentation) a stream fixed by the run's seed and its place in the model,
    not by when it was built: a model written in a notebook and the same model from a builder, or a second stage
    cloned in another process, then draw the same masks and transformations."""
    for i, layer in enumerate(_all_layers(model)):
        for j, generator in enumerate(getattr(layer, "_seed_generators", [])):
            value = (1_000_003 * seed + 1_009 * i + j) % 2**31
            generator.state.assign(np.array([value, 0]).astype(keras.backend.standardize_dtype(generator.state.dtype)))


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order, nested models (a keras.applications base, an augmentation Sequential) opened."""
    found: list[keras.layers.Layer] = []
    for layer in model.layers:
        found += _all_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def make_record(
    model: keras.Model,
    config: RunConfig,
    data: Dataset,
    key: str,
    history: dict,
    epoch_seconds: list[float],
    *,
    starts_from: str | None,
    deterministic: bool,
) -> RunRecord:
    """Everything the report needs about a finished run, with its test predictions (one pass over the test set)."""
    test = pipeline.fit_arguments(data.x_test, data.y_test, batch_size=EVAL_BATCH, seed=0, shuffle=False)
    probs = np.asarray(model.predict(**{k: v for k, v in test.items() if k != "y"}, verbose=0), dtype=np.float64)
    labels = np.asarray(data.y_test).astype(np.int64).ravel()
    predicted = probs.argmax(axis=1)
    return RunRecord(
        config=config.to_dict(),
        key=key,
        dataset={
            "name": data.name,
            "source": data.source,
            "fingerprint": data.fingerprint(),
            "train": len(data.y_train),
            "validation": len(data.y_val),
            "test": len(labels),
        },
        history={k: [float(v) for v in history[k]] for k in HISTORY_KEYS if k in history},
        epoch_seconds=[round(s, 4) for s in epoch_seconds],
        best_epoch=best_epoch(history, config.monitor),
        params=count_params(model),
        test_loss=float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)))),
        test_accuracy=float(np.mean(predicted == labels)),
        test_predictions=[int(p) for p in predicted],
        model_name=model.name,
        compiled={
            "optimizer": type(model.optimizer).__name__,
            "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
        },
        starts_from=starts_from,
        backend=runtime.backend_name(),
        device=runtime.device_description(),
        jit_compile=bool(model.jit_compile),
        mixed_precision=mixed_precision(model),
        steps_per_execution=int(model.steps_per_execution),
        replicas=_replicas(model),
        cpu_threads=runtime.cpu_threads(),
        deterministic=deterministic,
        versions=runtime.versions(),
        git_commit=runtime.git_commit(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _replicas(model: keras.Model) -> int:
    """Devices each batch was split over: a tf.distribute strategy's replicas, or a Keras distribution's devices."""
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow
    if strategy is not None:
        return int(strategy.num_replicas_in_sync)
    distribution = keras.distribution.distribution()  # JAX
    return int(np.size(distribution.device_mesh.devices)) if distribution is not None else 1


def best_epoch(history: dict, monitor: str) -> int:
    """1-based epoch whose weights EarlyStopping restored."""
    values = history.get(monitor) or []
    if not values:
        return 0
    best = min(values) if monitor.endswith("loss") else max(values)
    return values.index(best) + 1


def _say_waiting(config: RunConfig):
    """The message printed once when another process holds the run's claim."""

    def say(info: dict) -> None:
        print(
            f"{config.experiment}: being trained by {info.get('host', '?')} (pid {info.get('pid', '?')}); "
            "waiting for it, then loading it from the run cache",
            flush=True,
        )

    return say
