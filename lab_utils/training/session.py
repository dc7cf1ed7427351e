"""One training session: a profile's data, the run cache, and the one way into training.

Every run goes through `fit_or_load` (lab_utils.training.fit): `Session.fit` with a model a notebook wrote,
`Session.run` with the catalogue's builder (what the batch workers train). Both use the catalogue's fit settings
for the run's name under the session's profile, so a notebook's model equal to the catalogued one loads the
workers' run, and an edited one trains under its own key, announced in one line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import keras

from lab_utils import settings
from lab_utils.data.datasets import Dataset, load_dataset
from lab_utils.errors import ConfigError
from lab_utils.models.transfer import holds_imagenet_weights
from lab_utils.paths import display_path, resolve
from lab_utils.paths import runs_dir as default_runs_dir
from lab_utils.training import distribute, runtime
from lab_utils.training.build import build_catalogued, build_for, compile_model
from lab_utils.training.config import RunConfig
from lab_utils.training.experiments import get_experiment
from lab_utils.training.fit import Run, find_run, fit_or_load, require_compiled, run_key
from lab_utils.training.profiles import Profile, get_profile
from lab_utils.training.signature import model_differences

RunId = tuple[str, "str | None", int]  # (experiment, augmentation, seed)


class Session:
    """A profile, a data folder, a run cache and a seed: what training needs, and nothing about reports.

    Args:
        profile: "smoke", "lesson", "quick", "full" or "auto" (see lab_utils.training.profiles).
        data_dir: folder with per-dataset subfolders in the official formats; None = the usual sources.
        runs_dir: the run cache; None = runs/ (or LAB_RUNS_DIR) under the output root (lab_utils.paths).
        seed: seeds the data split and every run.
        seeds: training seeds per run (seed, seed + 1, ...); None = the profile's.
        epochs: overrides the profile's epoch budget for every run.
        verbose: Keras fit verbosity; None = `LAB_FIT_VERBOSE` or 1 (a live progress bar per epoch).
        runs_archive: a run cache packed by `python -m lab_utils.run.pack` (or `LAB_RUNS_ARCHIVE`), added to the
            run cache first, so a class can skip training.
    """

    def __init__(
        self,
        profile: str = "auto",
        *,
        data_dir: str | os.PathLike | None = None,
        runs_dir: str | os.PathLike | None = None,
        seed: int = 0,
        seeds: int | None = None,
        epochs: int | None = None,
        verbose: int | str | None = None,
        runs_archive: str | os.PathLike | None = None,
    ) -> None:
        self.profile: Profile = get_profile(profile)
        self.data_dir = resolve(data_dir) if data_dir else None
        self.runs_dir = resolve(runs_dir) if runs_dir else default_runs_dir()
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ConfigError(f"epochs={epochs!r} must be a positive whole number or None (the profile's budget)")
        seeds = self.profile.seeds if seeds is None else seeds
        if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
            raise ConfigError(f"seeds={seeds!r} must be a positive whole number (training seeds per run)")
        self.seed = int(seed)
        self.seeds = [self.seed + i for i in range(seeds)]
        self.epochs = epochs
        self.verbose = verbose if verbose is not None else settings.integer("LAB_FIT_VERBOSE")
        self._datasets: dict[str, Dataset] = {}
        self._runs: dict[RunId, Run] = {}
        self.differences: dict[tuple[str, str | None], list[str]] = {}  # runs trained on an edited model
        archive = runs_archive or settings.text("LAB_RUNS_ARCHIVE")
        if archive:  # a teacher's packed run cache: every cell runs, nothing in it trains again
            from lab_utils.training.archive import unpack

            added = unpack(archive, self.runs_dir)
            print(f"{display_path(archive)}: {len(added)} run(s) added to the run cache {display_path(self.runs_dir)}")

    def __repr__(self) -> str:
        data = display_path(self.data_dir) if self.data_dir else None
        return (
            f"{type(self).__name__}(profile={self.profile.name!r}, backend={runtime.backend_name()!r}, "
            f"device={runtime.device_description()!r}, data_dir={data!r})"
        )

    def dataset(self, name: str) -> Dataset:
        """The dataset under this profile's row limits, loaded once per session."""
        if name not in self._datasets:
            train_limit, test_limit = self.profile.limits(name)
            self._datasets[name] = load_dataset(
                name,
                self.data_dir,
                seed=self.seed,
                train_limit=train_limit,
                test_limit=test_limit,
            )
        return self._datasets[name]

    def config(self, experiment: str, augmentation: str | None = None) -> RunConfig:
        """The experiment's RunConfig under this profile, seed and epoch override."""
        base = get_experiment(experiment, augmentation).config.replace(seed=self.seed)
        return self.profile.apply(base, epochs=self.epochs)

    def fit(
        self,
        model: keras.Model,
        experiment: str,
        augmentation: str | None = None,
        *,
        starts_from: Run | None = None,
        **changes: Any,
    ) -> Run:
        """`model.fit` for your compiled `model` with the fit settings of `experiment`, or the same run loaded.

        The epochs, patience, batch size and seed come from the catalogue (`config(experiment)`); `changes`
        overrides them (e.g. `epochs=2`) for a side experiment that tables leave out. The cache key is your
        model's Keras config (names aside), its compile settings, the fit settings, the data and the seed: a model
        equal to the catalogued one loads the run the batch workers trained; an edited one trains under its own
        key, one line says how it differs, and the tables label it as yours. `starts_from` is the run your
        model's weights come from (a second stage of fine-tuning).
        """
        require_compiled(model)  # before its compile settings are compared
        catalogued = self.config(experiment, augmentation).replace(**changes)
        config = self._with_base_weights(model, catalogued, starts_from)
        differences = [] if changes else self.compare_with_catalogue(model, config)
        if config != catalogued and not changes:  # a side experiment is neither labelled nor reseeded
            differences.append("base weights: random vs ImageNet")
        # An edited model trains under every seed of the session, not only the first: the others are reseeded
        # copies of it, made now, before training changes its weights.
        copies = {seed: self._reseeded(model, seed, starts_from) for seed in self.seeds[1:]} if differences else {}
        run = fit_or_load(
            model,
            config,
            self.dataset(config.dataset),
            runs_root=self.runs_dir,
            verbose=self.verbose,
            starts_from=starts_from.record.key if starts_from else None,
        )
        if changes:
            self._say(config, run, ", ".join(f"{k}={v}" for k, v in changes.items()))
            return run
        for seed, (copy, first) in copies.items():
            seeded = config.replace(seed=seed)
            self._runs[(experiment, augmentation, seed)] = other = fit_or_load(
                copy,
                seeded,
                self.dataset(config.dataset),
                runs_root=self.runs_dir,
                verbose=self.verbose,
                starts_from=first.record.key if first else None,
            )
            self._say(seeded, other, f"your model, seed {seed}")
        if differences:
            self.differences[(experiment, augmentation)] = differences
            self._say(
                config,
                run,
                "your model, not the report's: "
                + "; ".join(differences[:3])
                + (f"; {len(differences) - 3} more" if len(differences) > 3 else ""),
            )
        else:
            self.differences.pop((experiment, augmentation), None)
            self._say(config, run, "your model, the report's network")
        self._runs[(experiment, augmentation, config.seed)] = run
        return run

    @staticmethod
    def _with_base_weights(model: keras.Model, config: RunConfig, starts_from: Run | None) -> RunConfig:
        """`config` with the weights the model's base really starts from: a base built with `weights=None` (your
        choice, or a missing ImageNet file) is recorded as random, so tables and claims never call it ImageNet."""
        kwargs = config.model_kwargs
        if config.architecture != "transfer" or kwargs.get("weights") != "imagenet":
            return config
        if starts_from is not None:  # a second stage starts where its first stage's base started
            imagenet = starts_from.record.config["model_kwargs"].get("weights") == "imagenet"
        else:
            imagenet = holds_imagenet_weights(model, kwargs["base"])
        return config if imagenet else config.replace(model_kwargs={**kwargs, "weights": None})

    def _reseeded(self, model: keras.Model, seed: int, starts_from: Run | None) -> tuple[keras.Model, Run | None]:
        """Your compiled model as another seed starts it: fresh layers initialised under `seed`, its pretrained
        bases' weights kept (a second stage: the weights of that seed's first stage), compiled as you compiled it;
        and that first stage's run."""
        first = None
        if starts_from is not None:
            stage = next(k for k, r in self._runs.items() if r is starts_from)
            first = self.run(stage[0], stage[1], seed=seed)
        keras.utils.set_random_seed(seed)
        copy = keras.models.clone_model(model)
        if first is not None:
            copy.set_weights(first.model.get_weights())
        else:
            for mine, theirs in zip(copy.layers, model.layers, strict=True):
                if isinstance(theirs, keras.Model):  # a keras.applications base: ImageNet (or your) weights
                    mine.set_weights(theirs.get_weights())
        copy.compile_from_config(model.get_compile_config())
        return copy, first

    def compare_with_catalogue(self, model: keras.Model, config: RunConfig) -> list[str]:
        """How a notebook's compiled model differs from the catalogue's for `config` (empty: the same run)."""
        if config.architecture == "transfer":  # the structure only: no ImageNet file to load for a comparison
            config = config.replace(model_kwargs={**config.model_kwargs, "weights": None})
        reference = build_for(config, self.dataset(config.dataset))
        found = model_differences(model, reference)
        optimizer = model.optimizer
        wanted = {"sgd": "SGD", "adam": "Adam"}[config.optimizer]
        if type(optimizer).__name__ != wanted:
            found.append(f"optimizer {type(optimizer).__name__} vs {wanted}")
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if not math.isclose(rate, config.resolved_learning_rate, rel_tol=1e-6):  # float32 in the optimizer
            found.append(f"learning rate {rate:g} vs {config.resolved_learning_rate:g}")
        if wanted == "SGD" and not math.isclose(float(optimizer.momentum), config.momentum, rel_tol=1e-6):
            found.append(f"momentum {optimizer.momentum:g} vs {config.momentum:g}")
        return found

    def run(self, experiment: str, augmentation: str | None = None, *, seed: int | None = None) -> Run:
        """The catalogued experiment trained with lab_utils' builder, or loaded from the run cache.

        `seed` is the training seed (default: the session's `seed`); `runs` gives every seed of the session.
        Data parallel when LAB_DATA_PARALLEL asks for it (lab_utils.training.distribute).
        """
        key = (experiment, augmentation, self.seed if seed is None else seed)
        if key not in self._runs:
            config = self.config(experiment, augmentation).replace(seed=key[2])
            first = self.run(config.starts_from, seed=key[2]) if config.starts_from else None  # outside the scope
            run = train(
                config, self.dataset(config.dataset), runs_root=self.runs_dir, verbose=self.verbose, first=first
            )
            self._say(
                config, run, f"{self.profile.name} profile" + (f", seed {config.seed}" if key[2] != self.seed else "")
            )
            self._runs[key] = run
        return self._runs[key]

    def runs(self, experiment: str, augmentation: str | None = None) -> list[Run]:
        """The experiment trained (or loaded) once per seed of the session, first seed first."""
        return [self.run(experiment, augmentation, seed=seed) for seed in self.seeds]

    def is_cached(self, experiment: str, augmentation: str | None = None, *, seed: int | None = None) -> bool:
        """Whether the catalogued run is in the run cache for this profile and data (`run` would load it)."""
        config = self.config(experiment, augmentation).replace(seed=self.seed if seed is None else seed)
        first = None
        if config.starts_from is not None:
            if not self.is_cached(config.starts_from, seed=config.seed):
                return False
            first = self.run(config.starts_from, seed=config.seed)
        model, starts_from = catalogued_model(config, self.dataset(config.dataset), first)
        key = run_key(model, config, self.dataset(config.dataset).fingerprint(), starts_from=starts_from)
        return find_run(self.runs_dir, config, key)[1] is not None

    @staticmethod
    def _say(config: RunConfig, run: Run, note: str) -> None:
        """One line per run: trained or loaded, and how it did."""
        print(
            f"{config.experiment}: {'loaded from the run cache' if run.cached else 'trained'} ({note}, "
            f"{run.record.epochs_run} epochs, test accuracy {100 * run.record.test_accuracy:.2f} %)",
            flush=True,
        )


def train(
    config: RunConfig,
    data: Dataset,
    *,
    runs_root: str | os.PathLike | None = None,
    verbose: int | str = 2,
    first: Run | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    data_parallel: bool | None = None,
) -> Run:
    """Train the catalogue's model for `config` on `data`, or load the identical run: what a batch worker runs.

    Args:
        config: what to train (model, optimizer, batch size, epochs, patience, seed).
        data: the dataset; its fingerprint is part of the cache key, so other data retrains.
        runs_root: the run cache folder (default `runs/`, or `LAB_RUNS_DIR`).
        verbose: passed to `Model.fit` (2 = one line per epoch, readable under papermill).
        first: a second stage's first-stage run, whose trained model this one continues.
        callbacks: extra Keras callbacks (e.g. a progress bar).
        data_parallel: split every batch across all devices (lab_utils.training.distribute); None reads
            LAB_DATA_PARALLEL. Not part of the cache key: it changes the speed, not what is learned.
    """
    with distribute.data_parallel(distribute.requested(data_parallel)):
        model, starts_from = catalogued_model(config, data, first)
        return fit_or_load(
            model,
            config,
            data,
            runs_root=resolve(runs_root) if runs_root else default_runs_dir(),
            verbose=verbose,
            starts_from=starts_from,
            callbacks=callbacks,
        )


def catalogued_model(config: RunConfig, data: Dataset, first: Run | None = None) -> tuple[keras.Model, str | None]:
    """The compiled model the batch workers train for `config`, and the key of the run it starts from.

    A second stage (`first`: its first stage's run) is a copy of that trained model with its base unfrozen,
    recompiled at the stage's rate: what notebook 03 does by hand.
    """
    if first is None:
        return build_catalogued(config, data), None
    model = keras.models.clone_model(first.model)
    model.set_weights(first.model.get_weights())
    model.get_layer(config.model_kwargs["base"]).trainable = not config.model_kwargs["freeze_base"]
    compile_model(model, config)
    return model, first.record.key
