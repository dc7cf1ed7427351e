"""Run records and the run cache: what a finished run learned, saved so it is never trained twice."""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab_utils.atomic import atomic_dir
from lab_utils.training.config import RunConfig

if TYPE_CHECKING:  # the batch job's runner reads records without starting TensorFlow
    import keras

RECORD_FILE = "record.json"
WEIGHTS_FILE = "model.weights.h5"
RECORD_VERSION = 2  # 2: keys from the built model (lab_utils.training.fit), test predictions kept


@dataclass
class RunRecord:
    """Everything a report needs about one run, without the weights."""

    config: dict[str, Any]
    key: str
    dataset: dict[str, Any]  # name, source, fingerprint, split sizes
    history: dict[str, list[float]]  # per-epoch loss/accuracy/val_loss/val_accuracy
    epoch_seconds: list[float]  # wall time of each epoch
    best_epoch: int  # 1-based epoch whose weights were restored
    params: dict[str, int]  # total / trainable / non_trainable
    test_loss: float
    test_accuracy: float
    backend: str
    device: str
    jit_compile: bool
    mixed_precision: bool = False
    steps_per_execution: int = 1
    replicas: int = 1  # devices the batch was split over (data parallelism)
    deterministic: bool = False  # TensorFlow op determinism was on (CPU runs)
    cpu_threads: int = 0  # intra-op threads of a CPU run: TF's reductions split by it, so it fixes the last bits
    test_predictions: list[int] = field(default_factory=list)  # predicted class of each test image, in order
    model_name: str = ""  # the Keras model's name (the key ignores names)
    compiled: dict[str, Any] = field(default_factory=dict)  # optimizer class and learning rate it was compiled with
    starts_from: str | None = None  # key of the run whose weights this one started from (a second stage)
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    created: str = ""
    record_version: int = RECORD_VERSION

    @property
    def run_config(self) -> RunConfig:
        """The configuration as a RunConfig."""
        return RunConfig.from_dict(self.config)

    @property
    def epochs_run(self) -> int:
        """How many epochs were trained before early stopping."""
        return len(self.epoch_seconds)

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time; the first epoch includes tracing/compilation, so the median is fairer."""
        times = sorted(self.epoch_seconds)
        return times[len(times) // 2] if times else float("nan")

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """Parse a record written by to_json."""
        values = json.loads(text)
        return cls(**values)


def run_dir(runs_root: Path, config: RunConfig, key: str) -> Path:
    """The folder of one run: readable experiment name plus the cache key."""
    return Path(runs_root) / f"{config.experiment}-{key}"


def save_run(folder: Path, record: RunRecord, model: keras.Model) -> Path:
    """Write record + weights into `folder` atomically: an interrupted save leaves no run behind."""
    with atomic_dir(folder) as tmp:
        model.save_weights(tmp / WEIGHTS_FILE)
        (tmp / RECORD_FILE).write_text(record.to_json(), encoding="utf-8")
    return folder


def load_record(folder: Path, key: str) -> RunRecord | None:
    """The saved record in `folder` if it is complete and matches `key`; None means "train it"."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file() or not (Path(folder) / WEIGHTS_FILE).is_file():
        return None
    try:
        record = RunRecord.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as exc:
        warnings.warn(f"ignoring unreadable run record {path} ({exc}); the run will be retrained", stacklevel=2)
        return None
    if record.key != key or record.record_version != RECORD_VERSION:
        return None
    return record


def load_records(runs_root: Path) -> list[RunRecord]:
    """Every readable record under `runs_root`, e.g. for the results notebook."""
    records = []
    for path in sorted(Path(runs_root).glob(f"*/{RECORD_FILE}")):
        try:
            records.append(RunRecord.from_json(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            continue
    return records
