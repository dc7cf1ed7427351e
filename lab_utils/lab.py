"""`Lab`: a training session (lab_utils.training.session) with what a notebook shows of it — figures, tables and
the report's claims judged on its runs."""

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
from lab_utils.data.datasets import CLASS_NAMES, Dataset
from lab_utils.errors import ConfigError
from lab_utils.paths import display_text, output_dir, resolve
from lab_utils.report import claims, stats, verdicts
from lab_utils.report.display import Code, Markdown, SavedFigure, Table
from lab_utils.report.evaluation import Predictions, predict
from lab_utils.report.paper import PAPER_RESULTS
from lab_utils.report.plotting import plot_architecture, save_figure
from lab_utils.report.tables import comparison_rows, markdown_table, write_table
from lab_utils.training import runtime
from lab_utils.training.build import build_and_compile
from lab_utils.training.experiments import BEST_MODEL_CANDIDATES, EXPERIMENTS, NOTEBOOK_RUNS, get_experiment
from lab_utils.training.fit import Run
from lab_utils.training.records import RunRecord, load_records
from lab_utils.training.session import Session


class Lab(Session):
    """One notebook's session (lab_utils.training.session.Session) and where its figures and tables go.

    Args:
        profile, data_dir, runs_dir, seed, seeds, epochs, verbose, runs_archive: as `Session`. Under several
            seeds, tables show mean ± std and a 95 % interval over seeds and images, and claims are judged over
            both; the data split and the test images stay those of `seed`.
        figures_dir, tables_dir: output folders; None = figures/, tables/ under LAB_HOME, the project checkout,
            or else the current directory (lab_utils.paths.output_dir), never inside an installed package.
            Relative paths are taken from the directory where run_all.sh / jupyterlab.sh was typed.
    """

    def __init__(
        self,
        profile: str = "auto",
        *,
        figures_dir: str | os.PathLike | None = None,
        tables_dir: str | os.PathLike | None = None,
        **session: Any,
    ) -> None:
        super().__init__(profile, **session)
        self.figures_dir = resolve(figures_dir) if figures_dir else output_dir("figures")
        self.tables_dir = resolve(tables_dir) if tables_dir else output_dir("tables")
        self._predictions: dict[str, Predictions] = {}  # by run key

    def predictions(self, experiment: str, augmentation: str | None = None) -> Predictions:
        """The run's softmax outputs on its test set (inference mode), computed once per run."""
        run = self.run(experiment, augmentation)
        if run.record.key not in self._predictions:
            data = self.dataset(run.record.dataset["name"])
            self._predictions[run.record.key] = predict(run.model, data.x_test, data.y_test)
        return self._predictions[run.record.key]

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
            "code": f"lab_utils, {verdicts.code_version(runtime.git_commit())}",
        }

    @staticmethod
    def _data_note(data: Dataset) -> str:
        """Split sizes and source of a dataset, for table footers."""
        return (
            f"{len(data.y_train)}/{len(data.y_val)}/{len(data.y_test)} train/val/test from {display_text(data.source)}"
        )

    def timings(self, *, everything_cached: bool = False) -> Markdown:
        """Time per epoch of this session's runs (or of every run in the cache), as a Markdown table."""
        records = load_records(self.runs_dir) if everything_cached else [r.record for r in self._runs.values()]
        rows = [
            {
                "run": record.config["experiment"],
                "train images": record.dataset["train"],
                "epochs": record.epochs_run,
                "seconds_per_epoch": round(record.seconds_per_epoch, 2),
                "device": record.device,
                "backend": record.backend,
                "replicas": record.replicas,
            }
            for record in records
        ]
        return Markdown(markdown_table(rows) if rows else "*no runs yet*")

    def accuracy_table(self, table: str, experiments: Sequence[str], *, caption: str) -> list[dict[str, Any]]:
        """Train (or load) each experiment and write the table with the report's accuracy beside ours: the mean
        over seeds, its std, the number of seeds and a 95 % interval (Wilson for one seed, else a t over seeds with the
        seed and image variance components: lab_utils.report.stats.accuracy_interval)."""
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
        names = {labels[n]: n for n in experiments}
        self._label_edited(rows, lambda row: (names.get(row["network"]), None))
        datasets = sorted({r.record.dataset["name"] for r in runs.values()})
        return self._write(rows, table, caption=caption, datasets=datasets)

    def _label_edited(self, rows: list[dict[str, Any]], run_of: Callable[[dict[str, Any]], tuple]) -> None:
        """A `model` column when a row's run is a student's edited model: "yours: " and how it differs."""
        edited = [self.differences.get(run_of(row)) for row in rows]
        if any(edited):
            for row, differences in zip(rows, edited, strict=True):
                row["model"] = "yours: " + "; ".join(differences[:2]) if differences else None

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
            gain = stats.paired_difference(
                [self._correct(r.record) for r in augmented], [self._correct(r.record) for r in without]
            )
            with_ = self._accuracy(augmented)
            rows.append(
                {
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
                    "gain_p": stats.format_p(gain.p),
                    "epochs_with": augmented[0].record.epochs_run,
                    "base": base_note(augmented[0].record),
                    "profile": self.profile.name,
                    "note": paper_row["note"],
                }
            )
        self._label_edited(
            rows, lambda row: (_experiment_for_label(row["network"]), preset_for_paper_name(row["augmentation"]))
        )
        return self._write(rows, table, caption=caption, datasets=["cifar10"])

    def best_model(self) -> tuple[str, str | None]:
        """The best model of Figs. 10-12: the augmented run with the best validation accuracy."""
        return self.best_run(BEST_MODEL_CANDIDATES)

    def verdicts(
        self,
        names: Sequence[str] | None = None,
        *,
        best: tuple[str, str | None] | None = None,
    ) -> list[claims.Verdict]:
        """The report's claims `names` (all by default), judged on every seed of this session's runs: paired tests
        adjusted as one Holm family, curve and timing checks apart (lab_utils.report.claims)."""
        by_name: dict[str, list[RunRecord]] = {}
        for key in sorted(self._runs, key=lambda k: k[2]):
            by_name.setdefault(self._runs[key].name, []).append(self._runs[key].record)
        datasets = {rs[0].dataset["name"] for rs in by_name.values()}
        labels = {d: np.asarray(self.dataset(d).y_test).ravel() for d in datasets}
        best_name = self.run(*best).name if best else None
        return claims.check_claims(by_name, labels, CLASS_NAMES["cifar10"], best_run=best_name, names=names)

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
        context = claims.run_context(runtime.git_commit(), len(self.seeds), runtime.device_description())
        return Markdown("\n".join(v.line() for v in verdicts) + f"\n\n{claims.outcome_sentence(verdicts, context)}\n")

    def claims_table(self, *, table: str = "claims") -> Table:
        """ "What this run reproduces": every claim of the report with its outcome and test, written as a table."""
        best = self.best_model()
        for key in dict.fromkeys(key for keys in NOTEBOOK_RUNS.values() for key in keys):  # in notebook order
            self.runs(*key)  # loaded from the run cache when the notebooks before this one trained them
        verdicts = self.verdicts(best=best)
        context = claims.run_context(runtime.git_commit(), len(self.seeds), runtime.device_description())
        return self._write(
            claims.verdict_rows(verdicts),
            table,
            datasets=["mnist", "cifar10"],
            caption=f"What this run reproduces: the report's claims, tested as one Holm family — "
            f"{claims.outcome_sentence(verdicts, context)}",
        )


def base_note(record: RunRecord) -> str | None:
    """How a transfer model's base started and trained ("ImageNet, fine-tuned", "random init, frozen"), else None.

    Frozen or not is read from what trained (most weights non-trainable), not from the catalogue: a notebook may
    have built the model differently.
    """
    if record.config["architecture"] != "transfer":
        return None
    start = (
        "ImageNet"
        if record.config["model_kwargs"].get("weights") == "imagenet"
        else "random init (no ImageNet weights)"
    )
    frozen = record.params["non_trainable"] > record.params["trainable"]
    return f"{start}, {'frozen' if frozen else 'fine-tuned'}"


def _experiment_for_label(label: str) -> str:
    """The experiment whose paper label is `label`."""
    for name, experiment in EXPERIMENTS.items():
        if experiment.label == label and experiment.config.dataset == "cifar10":
            return name
    raise ConfigError(f"no experiment is labelled {label!r}")
