"""The run configuration: every knob of one training run in one frozen, hashable place."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lab_utils.errors import ConfigError

# The report's learning rates: SGD 0.01 with momentum 0.9 for training from scratch, 1e-4 for fine-tuning.
DEFAULT_LEARNING_RATES = {"sgd": 0.01, "adam": 1e-4}
MONITORS = ("val_loss", "val_accuracy")


@dataclass(frozen=True)
class RunConfig:
    """One experiment: which model, trained how, on which dataset.

    Its stable hash (with the data fingerprint) names the saved run and is the run cache key, so any
    change to a field here retrains, and nothing outside it may change what is learned.
    """

    experiment: str  # a short name, e.g. "vgg_blocks_bn"; names the run folder
    dataset: str  # "mnist" | "fashion_mnist" | "cifar10"
    architecture: str  # a key of lab_utils.models.builders.MODEL_BUILDERS
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)  # builder keyword arguments
    optimizer: str = "sgd"  # "sgd" | "adam"
    learning_rate: float | None = None  # None: the report's rate for the optimizer
    momentum: float = 0.9  # SGD only (the report's 0.9)
    batch_size: int = 64  # the report's batch size
    epochs: int = 100  # upper bound; early stopping usually ends sooner
    patience: int = 20  # early-stopping patience in epochs (the report used 20 or 50)
    monitor: str = "val_loss"  # what early stopping watches
    seed: int = 0
    jit_compile: bool | None = None  # None: chosen per device (see runtime.default_jit_compile)
    mixed_precision: bool | None = None  # True: bf16 compute (a GPU speed-up); None/False: float32, as notebooks build
    steps_per_execution: int | None = None  # None: per device (runtime.default_steps_per_execution)
    starts_from: str | None = None  # a second stage: the experiment whose trained model this one continues

    def __post_init__(self) -> None:
        if not self.experiment or not self.experiment.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"experiment {self.experiment!r} must be a non-empty name of letters, digits, _ or -")
        if self.optimizer not in DEFAULT_LEARNING_RATES:
            raise ConfigError(f"optimizer {self.optimizer!r} is not one of {sorted(DEFAULT_LEARNING_RATES)}")
        if self.monitor not in MONITORS:
            raise ConfigError(f"monitor {self.monitor!r} is not one of {MONITORS}")
        for name in ("batch_size", "epochs", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "patience" else 1):
                raise ConfigError(f"{name}={value!r} must be a positive whole number")
        if self.steps_per_execution is not None and (
            not isinstance(self.steps_per_execution, int) or self.steps_per_execution < 1
        ):
            raise ConfigError(f"steps_per_execution={self.steps_per_execution!r} must be a positive whole number")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"learning_rate={self.learning_rate!r} must be > 0 (or None for the report's default)")
        # Freeze the kwargs into plain JSON types so the hash is stable and the record round-trips.
        object.__setattr__(self, "model_kwargs", json.loads(json.dumps(dict(self.model_kwargs), sort_keys=True)))

    @property
    def resolved_learning_rate(self) -> float:
        """The learning rate actually used."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as saved in run records."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Inverse of to_dict; unknown keys are an error so a stale record is not misread."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown RunConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (e.g. fewer epochs for a quick profile)."""
        return dataclasses.replace(self, **changes)

    def cache_key(self, data_fingerprint: str) -> str:
        """Stable hash of this configuration and the exact data it trains on."""
        payload = json.dumps({"config": self.to_dict(), "data": data_fingerprint}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
