"""The models the notebooks write are the models the batch workers train: same Keras config (names aside), same
compile settings, same random start — so the same cache key, and a notebook loads the workers' runs.

Each test execs a notebook's own cells as a student runs them: the cells tagged `keras-model`, then every code
cell of its `## Model` and `## Training` sections, with a stand-in `lab` whose `fit(model, name, augmentation)`
records what it is given instead of training. For each recorded fit it builds the catalogue's model for that run
the way the batch workers do (lab_utils.training.session.catalogued_model; a second stage as a clone of its
first stage, unfrozen and recompiled) and compares the two layer for layer (`model_differences`) and by `run_key`.
Bases start from random weights (`weights=None`, offline) seeded as the notebook seeds them. Add a notebook to
NOTEBOOKS to cover it (01 and 02 follow the same cell convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import keras
import nbformat
import numpy as np
import pytest
from keras import layers

from lab_utils.models import builders
from lab_utils.run.runner import NOTEBOOKS_DIR
from lab_utils.training.config import RunConfig
from lab_utils.training.experiments import NOTEBOOK_RUNS, get_experiment
from lab_utils.training.fit import run_key
from lab_utils.training.profiles import get_profile
from lab_utils.training.session import catalogued_model
from lab_utils.training.signature import model_differences

# notebook -> the `fine_tune` values its transfer rows are checked with (None: it trains no transfer model)
NOTEBOOKS: dict[str, tuple[bool | None, ...]] = {
    "03_transfer_learning": (False, True),
    "04_data_augmentation": (False,),
}
CIFAR = SimpleNamespace(name="cifar10", input_shape=(32, 32, 3), num_classes=10)  # what build_for reads of a Dataset
DATA_FINGERPRINT = "the same data"  # both sides of each comparison get the same fit settings and data


def _cells(name: str) -> list[str]:
    """The notebook's `keras-model` cells, then the code cells of its Model and Training sections, in order."""
    cells = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4).cells
    tagged = [c.source for c in cells if "keras-model" in c.metadata.get("tags", [])]
    section, body = None, []
    for cell in cells:
        if cell.cell_type == "markdown":
            headings = [line[3:].strip() for line in cell.source.splitlines() if line.startswith("## ")]
            section = headings[-1] if headings else section
        elif section in ("Model", "Training") and cell.source not in tagged:
            body.append(cell.source)
    assert tagged or body, f"{name}: no keras-model cell and no Model/Training section"
    return [*tagged, *body]


def _catalogue_config(experiment: str, augmentation: str | None, fine_tune: bool) -> RunConfig:
    """The run's config as a batch worker trains it under a profile that fine-tunes the bases (`quick`) or one that
    freezes them (`smoke`), with the notebook's `weights=None` (random bases: no ImageNet file offline)."""
    profile = get_profile("quick" if fine_tune else "smoke")
    config = profile.apply(get_experiment(experiment, augmentation).config.replace(seed=0))
    if config.architecture == "transfer":
        config = config.replace(model_kwargs={**config.model_kwargs, "weights": None})
    return config


@dataclass
class RecordingLab:
    """Stands in for `Lab`: `fit` compares the notebook's compiled model with the catalogue's and trains nothing."""

    fine_tune: bool
    fits: list[tuple[str, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    catalogued: dict[str, tuple[keras.Model, str]] = field(default_factory=dict)  # experiment -> (model, key)

    def fit(
        self,
        model: keras.Model,
        experiment: str,
        augmentation: str | None = None,
        *,
        starts_from: Any = None,
        **changes: Any,
    ) -> SimpleNamespace:
        assert not changes, f"{experiment}: the notebook overrides the catalogue's fit settings {changes}"
        self.fits.append((experiment, augmentation))
        config = _catalogue_config(experiment, augmentation, self.fine_tune)
        random_state = np.random.get_state()  # the catalogue's build reseeds; leave the notebook's state alone
        expected, expected_from = self._catalogued_model(config)
        np.random.set_state(random_state)
        label = f"{experiment}" + (f" + {augmentation}" if augmentation else "")
        self.problems += [f"{label}: {p}" for p in model_differences(model, expected)]
        written_key = run_key(model, config, DATA_FINGERPRINT, starts_from=starts_from and starts_from.record.key)
        expected_key = run_key(expected, config, DATA_FINGERPRINT, starts_from=expected_from)
        if written_key != expected_key:
            self.problems.append(
                f"{label}: another cache key than the catalogue's ({_key_part_differing(model, expected)})"
            )
        self.catalogued[config.experiment] = (expected, expected_key)
        record = SimpleNamespace(
            key=written_key, test_accuracy=0.5, seconds_per_epoch=1.0, history={}, params=builders.count_params(model)
        )
        return SimpleNamespace(model=model, record=record, name=config.experiment, cached=False)

    def _catalogued_model(self, config: RunConfig) -> tuple[keras.Model, str | None]:
        """What the batch workers train for `config`, and the key of the run it starts from."""
        first = None
        if config.starts_from is not None:  # the notebook fits the first stage first
            model, key = self.catalogued[config.starts_from]
            first = SimpleNamespace(model=model, record=SimpleNamespace(key=key))
        return catalogued_model(config, CIFAR, first)


def _key_part_differing(written: keras.Model, expected: keras.Model) -> str:
    """Which input of run_key differs, besides the layers model_differences already names."""
    from lab_utils.training.signature import pretrained_fingerprint

    parts = []
    if pretrained_fingerprint(written) != pretrained_fingerprint(expected):
        parts.append(
            "the bases' starting weights: seed, then build the augmentation, then the base (the builder's order)"
        )
    if type(written.optimizer) is not type(expected.optimizer) or (
        {k: v for k, v in written.optimizer.get_config().items() if k != "name"}
        != {k: v for k, v in expected.optimizer.get_config().items() if k != "name"}
    ):
        parts.append(f"the optimizer: {written.optimizer.get_config()} vs {expected.optimizer.get_config()}")
    if written.loss != expected.loss:
        parts.append(f"the loss: {written.loss!r} vs {expected.loss!r}")
    return "; ".join(parts) or "the model's config or the run it starts from"


def _run_notebook_cells(name: str, lab: RecordingLab) -> dict:
    namespace = {
        "keras": keras,
        "layers": layers,
        "np": np,
        "math": math,
        "seed": 0,
        "weights": None,
        "fine_tune": lab.fine_tune,
        "lab": lab,
    }
    for source in _cells(name):
        exec(source.replace(".summary()", ".count_params()"), namespace)
    return namespace


@pytest.mark.parametrize("name, fine_tune", [(n, f) for n, values in NOTEBOOKS.items() for f in values])
def test_the_notebooks_models_are_the_catalogues(name: str, fine_tune: bool) -> None:
    lab = RecordingLab(fine_tune=fine_tune)
    _run_notebook_cells(name, lab)
    assert lab.fits == list(NOTEBOOK_RUNS[name])  # exactly the catalogue's runs, in its order
    assert lab.problems == []


def test_a_different_head_is_found_and_named() -> None:
    namespace = {"keras": keras, "layers": layers}
    exec(_cells("03_transfer_learning")[0], namespace)  # defines transfer_model
    base = keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3))
    base.trainable = False
    written = namespace["transfer_model"](base, keras.applications.vgg19.preprocess_input, batch_norm=True)
    built = builders.build_transfer_model("vgg19", weights=None, freeze_base=True)
    problems = model_differences(written, built)
    assert problems and any("BatchNormalization" in p or "layers" in p for p in problems)


def test_an_edited_augmentation_is_found_and_named() -> None:
    namespace = {"keras": keras, "layers": layers}
    exec(_cells("04_data_augmentation")[0], namespace)  # flip_shift, flips, flips_rotation
    wider = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomTranslation(0.2, 0.2, fill_mode="nearest")], name="augmentation"
    )
    assert (
        model_differences(
            builders.build_vgg_blocks(augmentation=namespace["flip_shift"]()),
            builders.build_vgg_blocks(augmentation="flip_shift"),
        )
        == []
    )
    problems = model_differences(
        builders.build_vgg_blocks(augmentation=wider), builders.build_vgg_blocks(augmentation="flip_shift")
    )
    assert problems == ["augmentation (Sequential): layers.RandomTranslation.height_factor: 0.2 vs 0.1"]
