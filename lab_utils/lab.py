"""`Lab`: what a notebook needs in a few lines — the profile's data, cached runs, and where outputs go."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from . import runtime
from .config import RunConfig
from .data import Dataset, load_dataset
from .errors import ConfigError
from .experiments import EXPERIMENTS, get_experiment
from .paths import PROJECT_ROOT
from .paths import runs_dir as default_runs_dir
from .evaluation import Predictions, predict
from .plotting import plot_architecture, save_figure
from .profiles import Profile, get_profile
from .records import load_record, load_records, run_dir
from .reporting import PAPER_RESULTS, comparison_rows, markdown_table, write_table
from .training import Run, build_for, train

# Table III's augmentation sets, as the paper names them, mapped to our presets (lab_utils.augment).
_PAPER_AUGMENTATIONS = {
    "horizontal flip + width/height shift": "flip_shift",
    "horizontal + vertical flip + rotation 20°": "flip_rotate",
    "horizontal + vertical flip": "flip",
}


class Markdown(str):
    """Markdown text that a notebook renders (IPython calls `_repr_markdown_`)."""

    def _repr_markdown_(self) -> str:
        return str(self)


class SavedFigure(os.PathLike):
    """A figure written to disk; a notebook shows it inline from the saved PNG, so what you see is the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"SavedFigure({str(self.path)!r})"

    def _repr_png_(self) -> bytes:
        """IPython's hook: display the saved image."""
        return self.path.read_bytes()


def _project_path(value: str | os.PathLike) -> Path:
    """Resolve a relative folder against the project root, not the caller's working directory.

    papermill runs in the caller's folder, JupyterLab in the notebook's: resolving here makes both agree.
    """
    path = Path(value).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


class Lab:
    """One notebook's session: a profile, a data folder, output folders, a seed.

    Args:
        profile: "smoke", "quick" or "full" (see lab_utils.profiles).
        data_dir: folder with per-dataset subfolders in the official formats; None = the usual sources.
        figures_dir, tables_dir, runs_dir: output folders (relative = under the project root).
        seed: seeds the data split and every run.
        epochs: overrides the profile's epoch budget for every run.
        verbose: Keras fit verbosity; None = `LAB_FIT_VERBOSE` or 1 (a live progress bar per epoch, for
            JupyterLab). run_all.sh sets LAB_FIT_VERBOSE=2 (one line per epoch) for papermill logs.
    """

    def __init__(
        self,
        profile: str = "quick",
        *,
        data_dir: str | os.PathLike | None = None,
        figures_dir: str | os.PathLike = "figures",
        tables_dir: str | os.PathLike = "tables",
        runs_dir: str | os.PathLike | None = None,
        seed: int = 0,
        epochs: int | None = None,
        verbose: int | str | None = None,
    ) -> None:
        self.profile: Profile = get_profile(profile)
        self.data_dir = _project_path(data_dir) if data_dir else None
        self.figures_dir = _project_path(figures_dir)
        self.tables_dir = _project_path(tables_dir)
        self.runs_dir = _project_path(runs_dir) if runs_dir else default_runs_dir()
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ConfigError(f"epochs={epochs!r} must be a positive whole number or None (the profile's budget)")
        self.seed = int(seed)
        self.epochs = epochs
        self.verbose = verbose if verbose is not None else int(os.environ.get("LAB_FIT_VERBOSE", "1"))
        self._datasets: dict[str, Dataset] = {}
        self._runs: dict[tuple[str, str | None], Run] = {}
        self._predictions: dict[tuple[str, str | None], Predictions] = {}

    def __repr__(self) -> str:
        return (f"Lab(profile={self.profile.name!r}, backend={runtime.backend_name()!r}, "
                f"device={runtime.device_description()!r}, data_dir={str(self.data_dir) if self.data_dir else None!r})")

    def dataset(self, name: str) -> Dataset:
        """The dataset under this profile's row limits, loaded once per session."""
        if name not in self._datasets:
            self._datasets[name] = load_dataset(
                name, self.data_dir, seed=self.seed,
                train_limit=self.profile.train_limit, test_limit=self.profile.test_limit,
            )
        return self._datasets[name]

    def config(self, experiment: str, augmentation: str | None = None) -> RunConfig:
        """The experiment's RunConfig under this profile, seed and epoch override."""
        base = get_experiment(experiment, augmentation).config.replace(seed=self.seed)
        return self.profile.apply(base, epochs=self.epochs)

    def run(self, experiment: str, augmentation: str | None = None) -> Run:
        """Train the experiment, or load it from the run cache when it was trained before."""
        key = (experiment, augmentation)
        if key not in self._runs:
            config = self.config(experiment, augmentation)
            cached = "loading cached run" if self._is_cached(config) else "training"
            print(f"{experiment}{f' + {augmentation}' if augmentation else ''}: {cached} "
                  f"({self.profile.name} profile, ≤{config.epochs} epochs, patience {config.patience})", flush=True)
            self._runs[key] = train(config, self.dataset(config.dataset), runs_root=self.runs_dir,
                                    verbose=self.verbose)
        return self._runs[key]

    def _is_cached(self, config: RunConfig) -> bool:
        """Whether a matching run is saved (only to say "loading" rather than "training")."""
        key = config.cache_key(self.dataset(config.dataset).fingerprint())
        return load_record(run_dir(self.runs_dir, config, key), key) is not None

    def predictions(self, experiment: str, augmentation: str | None = None) -> Predictions:
        """The run's softmax outputs on its test set (inference mode), computed once per session."""
        key = (experiment, augmentation)
        if key not in self._predictions:
            run = self.run(experiment, augmentation)
            data = self.dataset(run.record.dataset["name"])
            self._predictions[key] = predict(run.model, data.x_test, data.y_test)
        return self._predictions[key]

    def architecture_figure(self, experiment: str, name: str) -> SavedFigure:
        """Draw the experiment's model (built, not trained) into the figures folder (Figs. 4, 5)."""
        config = self.config(experiment)
        model = build_for(config, self.dataset(config.dataset), pretrained=False)
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
        return f"{len(data.y_train)}/{len(data.y_val)}/{len(data.y_test)} train/val/test from {data.source}"

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
        """Train (or load) each experiment and write the table with the paper's accuracy beside ours."""
        runs = {name: self.run(name) for name in experiments}
        labels = {name: get_experiment(name).label for name in experiments}
        reproduced = {labels[n]: 100 * r.record.test_accuracy for n, r in runs.items()}
        rows = comparison_rows(PAPER_RESULTS[table], reproduced, profile=self.profile.name)
        for row in rows:
            record = next((r.record for n, r in runs.items() if labels[n] == row["network"]), None)
            row["epochs"] = record.epochs_run if record else None
            row["parameters"] = record.params["total"] if record else None
        datasets = sorted({r.record.dataset["name"] for r in runs.values()})
        write_table(rows, table, self.tables_dir, caption=caption, meta=self.meta(datasets))
        return rows

    def augmentation_table(self, *, caption: str, table: str = "table3") -> list[dict[str, Any]]:
        """Table III: every paper row we can map to a preset, trained without and with that augmentation."""
        rows = []
        for paper_row in PAPER_RESULTS[table]:
            preset = _PAPER_AUGMENTATIONS.get(paper_row["augmentation"])
            if preset is None:  # the seed does not say which rejected set it measured for ResNet50
                continue
            name = _experiment_for_label(paper_row["network"])
            without = self.run(name).record.test_accuracy * 100
            augmented = self.run(name, preset).record
            rows.append({
                "network": paper_row["network"],
                "augmentation": paper_row["augmentation"],
                "paper_without": paper_row["without_augmentation"],
                "paper_with": paper_row["with_augmentation"],
                "reproduced_without": round(without, 2),
                "reproduced_with": round(augmented.test_accuracy * 100, 2),
                "reproduced_gain": round(augmented.test_accuracy * 100 - without, 2),
                "epochs_with": augmented.epochs_run,
                "profile": self.profile.name,
                "note": paper_row["note"],
            })
        write_table(rows, table, self.tables_dir, caption=caption, meta=self.meta(["cifar10"]))
        return rows


def _experiment_for_label(label: str) -> str:
    """The experiment whose paper label is `label`."""
    for name, experiment in EXPERIMENTS.items():
        if experiment.label == label and experiment.config.dataset == "cifar10":
            return name
    raise ConfigError(f"no experiment is labelled {label!r}")
