"""lab_utils: what the CNN lab report's notebooks need around their Keras code — data, a run cache, records,
figures, tables, and the batch job.

`import lab_utils` loads nothing heavy: each name below is imported on first use, so the batch runner and its
worker processes load Keras (and TensorFlow) only when a function needs it. Whenever Keras is first imported
after this package, TensorFlow comes first with its start-up chatter filtered (lab_utils.quiet). No seeding,
no rcParams, no backend choice happen on import (set KERAS_BACKEND first).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lab_utils.quiet import quiet_on_first_import

quiet_on_first_import()

# Public name -> the module that defines it.
_EXPORTS = {
    "ConfigError": "lab_utils.errors",
    "DatasetError": "lab_utils.errors",
    "LabError": "lab_utils.errors",
    "WeightsError": "lab_utils.errors",
    "RunConfig": "lab_utils.training.config",
    "EXPERIMENTS": "lab_utils.training.experiments",
    "get_experiment": "lab_utils.training.experiments",
    "PROFILES": "lab_utils.training.profiles",
    "get_profile": "lab_utils.training.profiles",
    "DATASET_NAMES": "lab_utils.data.datasets",
    "Dataset": "lab_utils.data.datasets",
    "load_dataset": "lab_utils.data.datasets",
    "Predictions": "lab_utils.report.evaluation",
    "predict": "lab_utils.report.evaluation",
    "Lab": "lab_utils.lab",
    "MODEL_BUILDERS": "lab_utils.models.builders",
    "build_model": "lab_utils.models.builders",
    "count_params": "lab_utils.models.builders",
    "RunRecord": "lab_utils.training.records",
    "load_records": "lab_utils.training.records",
    "Run": "lab_utils.training.fit",
    "fit_or_load": "lab_utils.training.fit",
    "Session": "lab_utils.training.session",
    "train": "lab_utils.training.session",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lab_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from lab_utils.data.datasets import DATASET_NAMES, Dataset, load_dataset
    from lab_utils.errors import ConfigError, DatasetError, LabError, WeightsError
    from lab_utils.lab import Lab
    from lab_utils.models.builders import MODEL_BUILDERS, build_model, count_params
    from lab_utils.report.evaluation import Predictions, predict
    from lab_utils.training.config import RunConfig
    from lab_utils.training.experiments import EXPERIMENTS, get_experiment
    from lab_utils.training.fit import Run, fit_or_load
    from lab_utils.training.profiles import PROFILES, get_profile
    from lab_utils.training.records import RunRecord, load_records
    from lab_utils.training.session import Session, train
