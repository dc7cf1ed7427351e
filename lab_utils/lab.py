"""`Lab`: what a notebook needs in a few lines — the profile's data, cached runs, and where outputs go."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from lab_utils.data.augment import preset_for_paper_name
from lab_utils.data.datasets import CLASS_NAMES, Dataset, load_dataset
from lab_utils.errors import ConfigError
from lab_utils.models.transfer import resolve_weights
from lab_utils.paths import display_path, display_text, output_dir, resolve
from lab_utils.paths import runs_dir as default_runs_dir
from lab_utils.report import claims, stats
from lab_utils.report.display import Code, Markdown, SavedFigure, Table
from lab_utils.report.evaluation import Predictions, predict
from lab_utils.report.plotting import plot_architecture, save_figure
from lab_utils.report.tables import PAPER_RESULTS, comparison_rows, markdown_table, write_table
from lab_utils.training import distribute, runtime
from lab_utils.training.config import RunConfig
from lab_utils.training.experiments import BEST_MODEL_CANDIDATES, EXPERIMENTS, NOTEBOOK_RUNS, get_experiment
from lab_utils.training.fit import Run, find_run, fit_or_load, run_key
from lab_utils.training.profiles import Profile, get_profile
from lab_utils.training.records import RunRecord, load_records
from lab_utils.training.train import build_and_compile, build_catalogued, compile_model, compile_options


class Lab:
    """One notebook's session: a profile, a data folder, output folders, a seed.

    Args:
        profile: "smoke", "lesson", "quick", "full" or "auto" (see lab_utils.training.profiles).
        data_dir: folder with per-dataset subfolders in the official formats; None = the usual sources.
        figures_dir, tables_dir, runs_dir: output folders; None = figures/, tables/, runs/ (or LAB_RUNS_DIR)
            under LAB_HOME, the project checkout, or else the current directory (lab_utils.paths.output_dir),
            never inside an installed package. Relative paths, here and in data_dir, are taken from the directory where
            run_all.sh / jupyterlab.sh was typed (lab_utils.paths.resolve), the same rule everywhere.
        seed: seeds the data split and every run.
        seeds: how many training seeds each run of the tables and claims gets (seed, seed + 1, ...); None = the
            profile's (3 under `full`, else 1). Tables show mean ± std and a 95 % interval over seeds and images,
            claims are judged over both. The data split and the test images stay those of `seed`.
        epochs: overrides the profile's epoch budget for every run.
        verbose: Keras fit verbosity; None = `LAB_FIT_VERBOSE` or 1 (a live progress bar per epoch, for
            JupyterLab). run_all.sh sets LAB_FIT_VERBOSE=2 (one line per epoch) for papermill logs.
        runs_archive: a run cache packed by `python -m lab_utils.run.pack` (or `LAB_RUNS_ARCHIVE`): its runs are
            added to the run cache first, so a class can skip training.
    """

    def __init__(
        self,
        profile: str = "auto",
        *,
        data_dir: str | os.PathLike | None = None,
        figures_dir: str | os.PathLike | None = None,
        tables_dir: str | os.PathLike | None = None,
        runs_dir: str | os.PathLike | None = None,
        seed: int = 0,
        seeds: int | None = None,
        epochs: int | None = None,
        verbose: int | str | None = None,
        runs_archive: str | os.PathLike | None = None,
    ) -> None:
        self.profile: Profile = get_profile(profile)
        self.data_dir = resolve(data_dir) if data_dir else None
        self.figures_dir = resolve(figures_dir) if figures_dir else output_dir("figures")
        self.tables_dir = resolve(tables_dir) if tables_dir else output_dir("tables")
        self.runs_dir = resolve(runs_dir) if runs_dir else default_runs_dir()
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ConfigError(f"epochs={epochs!r} must be a positive whole number or None (the profile's budget)")
        seeds = self.profile.seeds if seeds is None else seeds
        if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
            raise ConfigError(f"seeds={seeds!r} must be a positive whole number (training seeds per run)")
        self.seed = int(seed)
        self.seeds = [self.seed + i for i in range(seeds)]
        self.epochs = epochs
        self.verbose = verbose if verbose is not None else int(os.environ.get("LAB_FIT_VERBOSE", "1"))
        self._datasets: dict[str, Dataset] = {}
        self._runs: dict[tuple[str, str | None, int], Run] = {}  # (experiment, augmentation, seed) -> run
        self._predictions: dict[tuple[str, str | None], Predictions] = {}
        if runtime.default_mixed_precision() and keras.config.dtype_policy().name == "float32":
            # As the batch workers build theirs, so a notebook's model has the same cache key (bf16 is in it).
            keras.config.set_dtype_policy("mixed_bfloat16")
            print("Lab: this GPU trains in bfloat16: models built from here on use Keras's mixed_bfloat16 policy "
                  "(keras.config.set_dtype_policy('float32') turns it off)", flush=True)
        archive = runs_archive or os.environ.get("LAB_RUNS_ARCHIVE")
        if archive:  # a teacher's packed run cache: every cell runs, nothing in it trains again
            from lab_utils.run.pack import unpack

            added = unpack(archive, self.runs_dir)
            print(f"{display_path(archive)}: {len(added)} run(s) added to the run cache {display_path(self.runs_dir)}")

    def __repr__(self) -> str:
        return (f"Lab(profile={self.profile.name!r}, backend={runtime.backend_name()!r}, "
                f"device={runtime.device_description()!r}, data_dir={display_path(self.data_dir) if self.data_dir else None!r})")

    def dataset(self, name: str) -> Dataset:
        """The dataset under this profile's row limits, loaded once per session."""
        if name not in self._datasets:
            train_limit, test_limit = self.profile.limits(name)
            self._datasets[name] = load_dataset(
                name, self.data_dir, seed=self.seed, train_limit=train_limit, test_limit=test_limit,
            )
        return self._datasets[name]

    def config(self, experiment: str, augmentation: str | None = None) -> RunConfig:
        """The experiment's RunConfig under this profile, seed and epoch override."""
        base = get_experiment(experiment, augmentation).config.replace(seed=self.seed)
        return self.profile.apply(base, epochs=self.epochs)

    def fit(
        self, model: keras.Model, experiment: str, augmentation: str | None = None, *,
        starts_from: Run | None = None, **changes: Any,
    ) -> Run:
        """Fit your compiled `model` with the fit settings of `experiment` under this profile, or load the run.

        The epochs, patience, batch size and seed come from the catalogue (`lab.config(experiment)`); `changes`
        overrides them (e.g. `epochs=2`). The cache key is your model's Keras config (names aside), its
        compile settings, the fit settings, the data and the seed: a model equal to the catalogued one loads
        the run the batch workers trained, an edited one trains under its own key. `starts_from` is the run
        your model's weights come from (a second stage of fine-tuning). Tables and claims of this session use
        the returned run for `experiment`.
        """
        config = self.config(experiment, augmentation).replace(**changes)
        run = fit_or_load(model, config, self.dataset(config.dataset), runs_root=self.runs_dir, verbose=self.verbose,
                          starts_from=starts_from.record.key if starts_from else None)
        self._say(config, run, ", ".join(f"{k}={v}" for k, v in changes.items()) or "your model")
        if not changes:
            self._runs[(experiment, augmentation, config.seed)] = run
            self._predictions.pop((experiment, augmentation), None)
        return run

    def run(self, experiment: str, augmentation: str | None = None, *, seed: int | None = None) -> Run:
        """Train the catalogued experiment with lab_utils' builder, or load it from the run cache.

        `seed` is the training seed (default: the session's `seed`); `runs` gives every seed of the session.
        Data parallel when LAB_DATA_PARALLEL asks for it (lab_utils.training.distribute).
        """
        key = (experiment, augmentation, self.seed if seed is None else seed)
        if key not in self._runs:
            config = self.config(experiment, augmentation).replace(seed=key[2])
            first = self.run(config.starts_from, seed=key[2]) if config.starts_from else None  # outside the scope
            with distribute.data_parallel(distribute.requested()):
                model, starts_from = self._catalogued_model(config, first)
                run = fit_or_load(model, config, self.dataset(config.dataset), runs_root=self.runs_dir,
                                  verbose=self.verbose, starts_from=starts_from)
            self._say(config, run, f"{self.profile.name} profile" + (f", seed {config.seed}" if key[2] != self.seed
                                                                         else ""))
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
        model, starts_from = self._catalogued_model(config, first)
        key = run_key(model, config, self.dataset(config.dataset).fingerprint(), starts_from=starts_from)
        return find_run(self.runs_dir, config, key)[1] is not None

    def _catalogued_model(self, config: RunConfig, first: Run | None) -> tuple[keras.Model, str | None]:
        """The compiled model the batch workers train for `config`, and the key of the run it starts from.

        A second stage (`first`: its first stage's run) is a copy of that trained model with its base unfrozen,
        recompiled at the stage's rate: what notebook 03 does by hand.
        """
        if first is None:
            return build_catalogued(config, self.dataset(config.dataset)), None
        model = keras.models.clone_model(first.model)
        model.set_weights(first.model.get_weights())
        model.get_layer(config.model_kwargs["base"]).trainable = not config.model_kwargs["freeze_base"]
        compile_model(model, config)
        return model, first.record.key

    @staticmethod
    def _say(config: RunConfig, run: Run, note: str) -> None:
        """One line per run: trained or loaded, and how it did."""
        print(f"{config.experiment}: {'loaded from the run cache' if run.cached else 'trained'} ({note}, "
              f"{run.record.epochs_run} epochs, test accuracy {100 * run.record.test_accuracy:.2f} %)", flush=True)

    @property
    def compile_options(self) -> dict[str, Any]:
        """`model.compile` options measured fastest on this device (XLA, steps per call): speed only."""
        return compile_options()

    def base_weights(self, experiment: str) -> str | None:
        """What to pass as `weights=` to keras.applications for the experiment's base under this profile: the
        local ImageNet file, or None (random weights) where the profile allows training without it."""
        kwargs = self.config(experiment).model_kwargs
        return resolve_weights(kwargs["base"], kwargs.get("weights"))

    def predictions(self, experiment: str, augmentation: str | None = None) -> Predictions:
        """The run's softmax outputs on its test set (inference mode), computed once per session."""
        key = (experiment, augmentation)
        if key not in self._predictions:
            run = self.run(experiment, augmentation)
            data = self.dataset(run.record.dataset["name"])
            self._predictions[key] = predict(run.model, data.x_test, data.y_test)
        return self._predictions[key]

    def confusion(self, experiment: str, augmentation: str | None = None) -> np.ndarray:
        """The run's test confusion matrix (rows: true class), summed over the session's seeds."""
        return sum(self._confusion(run.record) for run in self.runs(experiment, augmentation))

    @staticmethod
    def show_source(function: Callable[..., Any]) -> Code:
        """The real source of a lab_utils function, highlighted: what runs, read where it is used."""
        module = inspect.getmodule(function)
        where = f"{module.__name__}.{function.__qualname__}" if module else function.__qualname__
        return Code(f"`{where}`:\n```python\n{inspect.getsource(function).rstrip()}\n```\n")

    def architecture_figure(self, model: keras.Model | str, name: str) -> SavedFigure:
        """Draw a model (or a catalogued experiment's, built untrained) into the figures folder (Figs. 4, 5)."""
        if isinstance(model, str):
            config = self.config(model)
            model, _ = build_and_compile(config, self.dataset(config.dataset))
        return SavedFigure(plot_architecture(model, self.figures_dir / f"{name}.png"))

    def save_figure(self, fig: Figure, name: str) -> SavedFigure:
        """Save under the figures folder (atomically); the result displays the saved PNG in a notebook."""
        return SavedFigure(save_figure(fig, name, self.figures_dir))

    def best_run(self, candidates: Sequence[tuple[str, str | None]]) -> tuple[str, str | None]:
        """The (experiment, augmentation) with the best validation accuracy at its restored epoch.

        Chosen on validation data, never on the test set, so the test accuracy we report stays unbiased.
        """
        def best_val_accuracy(key: tuple[str, str | None]) -> float:
            record = self.run(*key).record
            return record.history["val_accuracy"][record.best_epoch - 1]

        return max(candidates, key=best_val_accuracy)

    def meta(self, datasets: Sequence[str]) -> dict[str, Any]:
        """Where a table's numbers came from: profile, data, backend, device, code.

        No dates or timings: the same seed, profile and backend must give byte-identical tables
        (timings are in the run records and `timings()`).
        """
        return {
            "profile": f"{self.profile.name} — {self.profile.description}",
            "data": "; ".join(f"{d}: {self._data_note(self.dataset(d))}" for d in datasets),
            "backend": f"{runtime.backend_name()} on {runtime.device_description()}",
            "seed": self.seed,
            "code": f"lab_utils at commit {runtime.git_commit() or 'unknown'}",
        }

    @staticmethod
    def _data_note(data: Dataset) -> str:
        """Split sizes and source of a dataset, for table footers."""
        return f"{len(data.y_train)}/{len(data.y_val)}/{len(data.y_test)} train/val/test from {display_text(data.source)}"

    def timings(self, *, everything_cached: bool = False) -> Markdown:
        """Time per epoch of this session's runs (or of every run in the cache), as a Markdown table."""
        records = load_records(self.runs_dir) if everything_cached else [r.record for r in self._runs.values()]
        rows = [{
            "run": record.config["experiment"], "train images": record.dataset["train"],
            "epochs": record.epochs_run, "seconds_per_epoch": round(record.seconds_per_epoch, 2),
            "device": record.device, "backend": record.backend, "replicas": record.replicas,
        } for record in records]
        return Markdown(markdown_table(rows) if rows else "*no runs yet*")

    def accuracy_table(self, table: str, experiments: Sequence[str], *, caption: str) -> list[dict[str, Any]]:
        """Train (or load) each experiment and write the table with the report's accuracy beside ours: the mean
        over seeds, its std, the number of seeds and a 95 % interval (Wilson for one seed, else a bootstrap over
        seeds and images)."""
        seeds = {name: self.runs(name) for name in experiments}
        runs = {name: per_seed[0] for name, per_seed in seeds.items()}
        labels = {name: get_experiment(name).label for name in experiments}
        reproduced = {labels[n]: self._accuracy(per_seed) for n, per_seed in seeds.items()}
        rows = comparison_rows(PAPER_RESULTS[table], reproduced, profile=self.profile.name)
        for row in rows:
            record = next((r.record for n, r in runs.items() if labels[n] == row["network"]), None)
            row["epochs"] = record.epochs_run if record else None
            row["parameters"] = record.params["total"] if record else None
            row["base"] = base_note(record) if record else None
        datasets = sorted({r.record.dataset["name"] for r in runs.values()})
        return self._write(rows, table, caption=caption, datasets=datasets)

    def _write(self, rows: list[dict[str, Any]], table: str, *, caption: str, datasets: Sequence[str]) -> Table:
        """Write the table (CSV + Markdown) and return it for display, rendered from the written Markdown."""
        _, md_path = write_table(rows, table, self.tables_dir, caption=caption, meta=self.meta(datasets))
        return Table(rows, md_path.read_text(encoding="utf-8"))

    def show_table(self, table: str) -> Table:
        """A table written earlier (by this or another notebook), rendered as in the notebook that wrote it."""
        path = self.tables_dir / f"{table}.md"
        if not path.is_file():
            raise ConfigError(f"no table {table!r} in {self.tables_dir}: run the notebook that writes it first")
        return Table([], path.read_text(encoding="utf-8"))

    def augmentation_table(self, *, caption: str, table: str = "table3") -> list[dict[str, Any]]:
        """Table III: every report row we can map to a preset, trained without and with that augmentation; the gain
        with its 95 % interval and p from a paired test on the same test images (lab_utils.report.stats)."""
        rows = []
        for paper_row in PAPER_RESULTS[table]:
            preset = preset_for_paper_name(paper_row["augmentation"])
            if preset is None:  # the report does not say which rejected set it measured for ResNet50
                continue
            name = _experiment_for_label(paper_row["network"])
            without, augmented = self.runs(name), self.runs(name, preset)
            gain = stats.paired_difference([self._correct(r.record) for r in augmented],
                                           [self._correct(r.record) for r in without])
            with_ = self._accuracy(augmented)
            rows.append({
                "network": paper_row["network"],
                "augmentation": paper_row["augmentation"],
                "paper_without": paper_row["without_augmentation"],
                "paper_with": paper_row["with_augmentation"],
                "reproduced_without": round(100 * self._accuracy(without).mean, 2),
                "reproduced_with": round(100 * with_.mean, 2),
                "with_ci": f"{100 * with_.low:.1f}–{100 * with_.high:.1f}",
                "seeds": with_.n_seeds,
                "reproduced_gain": round(gain.points, 2),
                "gain_ci": f"{gain.low:+.1f} to {gain.high:+.1f}",
                "gain_p": claims.format_p(gain.p),
                "epochs_with": augmented[0].record.epochs_run,
                "base": base_note(augmented[0].record),
                "profile": self.profile.name,
                "note": paper_row["note"],
            })
        return self._write(rows, table, caption=caption, datasets=["cifar10"])

    def best_model(self) -> tuple[str, str | None]:
        """The best model of Figs. 10-12: the augmented run with the best validation accuracy."""
        return self.best_run(BEST_MODEL_CANDIDATES)

    def verdicts(self, names: Sequence[str] | None = None, *, best: tuple[str, str | None] | None = None,
                 ) -> list[claims.Verdict]:
        """The report's claims `names` (all by default), judged by paired tests on this session's runs: over
        every seed trained so far, confusion matrices summed over seeds, curves from the first seed."""
        by_name: dict[str, list[Run]] = {}
        for key in sorted(self._runs, key=lambda k: k[2]):
            by_name.setdefault(self._runs[key].name, []).append(self._runs[key])
        correct = {name: [self._correct(r.record) for r in per_seed] for name, per_seed in by_name.items()}
        confusions = {name: sum(self._confusion(r.record) for r in per_seed) for name, per_seed in by_name.items()}
        best_name = self.run(*best).name if best else None
        return claims.check_claims({n: rs[0].record for n, rs in by_name.items()}, confusions, CLASS_NAMES["cifar10"],
                                   correct=correct, best_run=best_name, names=names)

    def _accuracy(self, per_seed: Sequence[Run]) -> stats.Accuracy:
        """Mean test accuracy over seeds with its 95 % interval (lab_utils.report.stats.accuracy_interval)."""
        return stats.accuracy_interval([self._correct(r.record) for r in per_seed])

    def _confusion(self, record: RunRecord) -> np.ndarray:
        """The run's confusion matrix, from the test predictions its record keeps (no model needed)."""
        labels = np.asarray(self.dataset(record.dataset["name"]).y_test).ravel()
        return confusion_matrix(labels, record.test_predictions, labels=range(len(CLASS_NAMES[record.dataset["name"]])))

    def _correct(self, record: RunRecord) -> Any:
        """Which test images the run got right, in test-set order (from the predictions its record keeps)."""
        labels = self.dataset(record.dataset["name"]).y_test
        return np.asarray(record.test_predictions) == np.asarray(labels).ravel()

    def summary(self, names: Sequence[str], *, best: tuple[str, str | None] | None = None) -> Markdown:
        """Bullets for a notebook's Summary: the named claims of the report (lab_utils.report.claims.CLAIMS),
        each with this run's outcome and the test that decided it, then the count of outcomes."""
        verdicts = self.verdicts(names, best=best)
        return Markdown("\n".join(v.line() for v in verdicts) + f"\n\n{claims.outcome_sentence(verdicts)}\n")

    def claims_table(self, *, table: str = "claims") -> Table:
        """"What this run reproduces": every claim of the report with its outcome and test, written as a table."""
        best = self.best_model()
        for key in dict.fromkeys(key for keys in NOTEBOOK_RUNS.values() for key in keys):  # in notebook order
            self.runs(*key)  # loaded from the run cache when the notebooks before this one trained them
        verdicts = self.verdicts(best=best)
        return self._write(claims.verdict_rows(verdicts), table, datasets=["mnist", "cifar10"],
                           caption=f"What this run reproduces: the report's claims, judged by paired tests — "
                                   f"{claims.outcome_sentence(verdicts)}")


def base_note(record: RunRecord) -> str | None:
    """How a transfer model's base started and trained ("ImageNet, fine-tuned", "random init, frozen"), else None.

    Frozen or not is read from what trained (most weights non-trainable), not from the catalogue: a notebook may
    have built the model differently.
    """
    if record.config["architecture"] != "transfer":
        return None
    start = "ImageNet" if record.config["model_kwargs"].get("weights") == "imagenet" else "random init (no ImageNet weights)"
    frozen = record.params["non_trainable"] > record.params["trainable"]
    return f"{start}, {'frozen' if frozen else 'fine-tuned'}"


def _experiment_for_label(label: str) -> str:
    """The experiment whose paper label is `label`."""
    for name, experiment in EXPERIMENTS.items():
        if experiment.label == label and experiment.config.dataset == "cifar10":
            return name
    raise ConfigError(f"no experiment is labelled {label!r}")
