"""lab_utils: everything the CNN lab report's notebooks need — data, models, training, evaluation, figures.

Importing it has no side effects beyond importing TensorFlow with its start-up chatter filtered (lab_utils.run.quiet):
no seeding, no rcParams, no backend choice (set KERAS_BACKEND first).
"""

from __future__ import annotations

from lab_utils.run.quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports Keras: TF's start-up lines are filtered at the source

from lab_utils.training.config import RunConfig  # noqa: E402 (after the quiet import, on purpose)
from lab_utils.data.datasets import DATASET_NAMES, Dataset, load_dataset
from lab_utils.errors import ConfigError, DatasetError, LabError, WeightsError
from lab_utils.report.evaluation import Predictions, predict
from lab_utils.training.experiments import EXPERIMENTS, get_experiment
from lab_utils.lab import Lab
from lab_utils.models.builders import MODEL_BUILDERS, build_model, count_params
from lab_utils.training.profiles import PROFILES, get_profile
from lab_utils.training.records import RunRecord, load_records
from lab_utils.training.train import Run, train

__all__ = [
    "DATASET_NAMES",
    "EXPERIMENTS",
    "MODEL_BUILDERS",
    "PROFILES",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "Lab",
    "LabError",
    "Predictions",
    "Run",
    "RunConfig",
    "RunRecord",
    "WeightsError",
    "build_model",
    "count_params",
    "get_experiment",
    "get_profile",
    "load_dataset",
    "load_records",
    "predict",
    "train",
]
