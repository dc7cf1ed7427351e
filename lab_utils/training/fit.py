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
from typing import Any

import keras
import numpy as np

from lab_utils.data.datasets import Dataset
from lab_utils.errors import ConfigError
from lab_utils.models.builders import count_params
from lab_utils.training import pipeline, run_lock, runtime
from lab_utils.training.config import RunConfig
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


def run_key(model: keras.Model, config: RunConfig, data_fingerprint: str, *, starts_from: str | None = None) -> str:
    """The cache key: a stable hash of everything that determines the trained weights (module docstring)."""
    if getattr(model, "optimizer", None) is None:
        raise ConfigError(
            f"model {model.name!r} is not compiled: call model.compile(optimizer=..., "
            "loss='sparse_categorical_crossentropy', metrics=['accuracy']) before lab.fit(model, ...)"
        )
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


def mixed_precision(model: keras.Model) -> bool:
    """Whether the model computes in 16 bits (a mixed-precision policy at build time): it changes the numbers."""
    return any(layer.compute_dtype in ("bfloat16", "float16") for layer in model.layers)


def model_signature(model: keras.Model) -> Any:
    """The model's Keras config with layer names replaced by their order of appearance and dtypes dropped.

    Names do not change what is learned; the dtype policy enters the key once, as `mixed_precision`.
    """
    config = _drop_dtypes(json.loads(json.dumps(model.get_config(), default=str)))  # tuples become lists
    names: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "class_name" in node and isinstance(node.get("config"), dict) and "name" in node["config"]:
                names.setdefault(node["config"]["name"], f"layer{len(names)}")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rename(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    collect(config)
    names.setdefault(config.get("name", ""), "model")
    return rename(config)


def model_differences(written: keras.Model, built: keras.Model) -> list[str]:
    """Where two models' signatures differ, layer by layer, named as in `written` (empty: the same network, so the
    same cache key). A layer whose only change is the input shape an earlier change gave it is not listed, unless
    nothing else differs (then every difference is)."""
    ours, theirs = model_signature(written)["layers"], model_signature(built)["layers"]
    names = [layer.name for layer in written.layers] if len(written.layers) == len(ours) else []
    problems = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a == b or _drop_build_config(a) == _drop_build_config(b):
            continue
        kind = (
            a.get("class_name")
            if a.get("class_name") == b.get("class_name")
            else f"{a.get('class_name')} vs {b.get('class_name')}"
        )
        label = f"{names[i]} ({kind})" if names else f"layer {i} ({kind})"
        problems.append(f"{label}: {_first_difference(_drop_build_config(a), _drop_build_config(b))}")
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} layers vs {len(theirs)} layers")
    return problems or [
        f"layer {i}: {_first_difference(a, b)}" for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b
    ]


def _drop_build_config(layer: Any) -> Any:
    """A layer's signature without the shapes it was built for and called on (they follow from earlier layers)."""
    return (
        {k: v for k, v in layer.items() if k not in ("build_config", "inbound_nodes")}
        if isinstance(layer, dict)
        else layer
    )


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """The first place two signatures differ, as `path: ours vs theirs` (nested layers by class name)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), path if k == "config" else f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            if x != y:
                name = x.get("class_name", "") if isinstance(x, dict) else ""
                return _first_difference(x, y, f"{path}.{name}" if name else path)
    return f"{path.lstrip('.')}: {a!r} vs {b!r}"


def _drop_dtypes(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_dtypes(v) for k, v in node.items() if k != "dtype"}
    if isinstance(node, list):
        return [_drop_dtypes(v) for v in node]
    return node


def pretrained_fingerprint(model: keras.Model) -> str | None:
    """A hash of the weights held by nested models (keras.applications bases): ImageNet or random, they are
    where training starts from, which the config does not say."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.weights]
    if not nested:
        return None
    digest = hashlib.sha256()
    for layer in nested:
        for weight in layer.weights:
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight.value)).tobytes())
    return digest.hexdigest()[:16]


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
