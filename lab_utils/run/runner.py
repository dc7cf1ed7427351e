"""`run_all.sh`: execute the notebooks in order with papermill, then export the HTML report with nbconvert."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab_utils import settings
from lab_utils.atomic import remove_stale_temporaries
from lab_utils.errors import ConfigError, LabError
from lab_utils.paths import output_dir, resolve, runs_dir
from lab_utils.run.execute import NOTEBOOKS_DIR, describe_failure, execute, export_html
from lab_utils.run.options import parse_args
from lab_utils.run.progress import RunWatcher

NOTEBOOKS = (
    "00_data_exploration",
    "01_mnist_cnn",
    "02_cifar10_cnn",
    "03_transfer_learning",
    "04_data_augmentation",
    "05_results",
)
REPORT_NOTEBOOK = "05_results"


def select_notebooks(only: Sequence[str]) -> list[str]:
    """The notebooks to run, in order; `--only` accepts the full name, its number or the part after it."""
    if not only:
        return list(NOTEBOOKS)
    chosen = set()
    for name in only:
        stem = Path(name).stem
        matches = [nb for nb in NOTEBOOKS if stem in (nb, nb[:2], nb[3:])]
        if not matches:
            raise ConfigError(f"unknown notebook {name!r}: choose from {', '.join(NOTEBOOKS)} (or their numbers)")
        chosen.update(matches)
    return [nb for nb in NOTEBOOKS if nb in chosen]


def resolve_profile(name: str, *, allow_cpu: bool = False) -> str:
    """The profile to run, said with the device every run will use; refuses `full` on a CPU unless allowed.

    "auto" is full with a GPU, else lesson, and says why. `full` without an accelerator would run the report's
    protocol (up to 200 epochs × 22 runs) on the CPU for days, so it stops before any work with the cause.
    """
    from lab_utils.run.devices import no_accelerator_cause
    from lab_utils.training.runtime import accelerator, backend_name, device_description

    gpu, backend = accelerator(), backend_name()
    if name == "auto":
        name = "full" if gpu else "lesson"
        reason = f"GPU found ({gpu})" if gpu else f"no GPU visible to {backend}"
        print(f"run_all: {reason} → profile {name!r} (choose with --profile smoke|lesson|quick|full)", flush=True)
    elif name == "full" and not gpu and not allow_cpu:
        raise ConfigError(
            f"--profile full needs a GPU: {no_accelerator_cause(backend)}. Or run "
            "--profile lesson (under 30 min on a 2-core CPU), or add --allow-cpu to run the full protocol anyway"
        )
    print(f"run_all: every run uses {device_description()} (Keras backend {backend})", flush=True)
    return name


def _folder(value: str | None) -> str | None:
    """A folder argument as an absolute path (the notebooks run with their own working directory)."""
    return None if value is None else str(resolve(value))


def check_folders(args: argparse.Namespace) -> None:
    """Create the output folders, refusing any we cannot write, before any work."""
    for option in ("figures_dir", "tables_dir", "runs_dir", "build_dir"):
        value = getattr(args, option)
        if value is None:
            continue
        path = Path(value)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--{option.replace('_', '-')} {path}: cannot create it ({exc.strerror})") from None
        if not os.access(path, os.W_OK):
            raise ConfigError(f"--{option.replace('_', '-')} {path} is not writable: choose another folder")


# Parameters some notebooks declare that run_all.sh leaves at the notebook's value: 03's and 04's keras.applications
# `weights` ("imagenet", or None offline) and `fine_tune` (None: the profile decides). Edit them in the notebook.
NOTEBOOK_OWN_PARAMETERS = frozenset({"weights", "fine_tune"})


def notebook_parameters(args: argparse.Namespace, profile: str) -> dict[str, Any]:
    """What papermill injects into every notebook's parameters cell."""
    return {
        "profile": profile,
        "data_dir": args.data_dir,
        "figures_dir": args.figures_dir,
        "tables_dir": args.tables_dir,
        "runs_dir": args.runs_dir,
        "seed": args.seed,
        "seeds": args.seeds,
        "epochs": args.epochs,
    }


def _report_run(line: str) -> None:
    """One line per finished training run, between the notebooks' own lines."""
    print(f"run_all:   trained {line}", flush=True)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM takes the same path as Ctrl-C: the kernel is shut down and no output is left half written."""
    raise KeyboardInterrupt


def check_workers(args: argparse.Namespace) -> None:
    """Refuse worker options that cannot work, before anything is written."""
    chosen = [o for o in ("workers", "scheduler", "slurm") if getattr(args, o) is not None]
    if not chosen:
        if args.train_only:
            raise ConfigError("--train-only trains on workers: add --workers N (or --scheduler / --slurm)")
        return
    from lab_utils.run.workers import import_dask

    if len(chosen) > 1:
        raise ConfigError(
            f"--{' and --'.join(chosen)} exclude each other: --workers starts workers on this "
            "machine, --scheduler uses those of a running cluster, --slurm submits Slurm jobs"
        )
    for option in ("workers", "slurm"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise ConfigError(f"--{option} {getattr(args, option)}: give at least 1")
    if args.data_parallel:
        raise ConfigError(
            "--data-parallel splits one run over every device, --workers gives each run its own: choose one"
        )
    import_dask()


def train_first(args: argparse.Namespace, profile: str, notebooks: Sequence[str]) -> None:
    """Train every run the notebooks need that is not cached, on the workers; the notebooks then load them."""
    from lab_utils.run.cluster import LabSettings, pending_runs, planned_runs, train_all

    session = LabSettings(
        profile=profile,
        data_dir=args.data_dir,
        runs_dir=str(args.runs_dir or runs_dir()),
        seed=args.seed,
        epochs=args.epochs,
        seeds=args.seeds,
    )
    planned = planned_runs(notebooks)
    pending = pending_runs(session, planned)
    where = (
        f"the cluster at {args.scheduler}"
        if args.scheduler
        else f"{args.slurm} Slurm job(s)"
        if args.slurm
        else f"{args.workers} local worker(s)"
    )
    print(
        f"run_all: {len(pending)} of the {len(planned)} runs these notebooks need are not in the run cache: "
        f"training them on {where}",
        flush=True,
    )
    if not pending:
        return
    t0 = time.perf_counter()
    train_all(
        session,
        pending,
        workers=args.workers,
        scheduler=args.scheduler,
        slurm_jobs=args.slurm,
        report=lambda result: _report_run(result.line()),
    )
    print(f"run_all: {len(pending)} run(s) trained in {time.perf_counter() - t0:.0f} s", flush=True)


def set_up_process(args: argparse.Namespace) -> None:
    """The environment the kernels and workers inherit, the signal handlers, and the folders made absolute."""
    # The one path rule: relative folders are taken from where the command was typed; the kernels inherit it.
    settings.export_default("LAB_CALLER_DIR", os.getcwd())
    # JAX grabs 75 % of every visible GPU when its client starts; the runner only asks which devices exist, and a
    # notebook kernel or worker that shares its GPU needs that memory: allocate as needed (kernels inherit it).
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    if args.data_parallel:
        settings.export("LAB_DATA_PARALLEL", "1")  # the kernels inherit it; lab_utils.training.distribute reads it
    for option in ("data_dir", "figures_dir", "tables_dir", "runs_dir", "build_dir"):
        setattr(args, option, _folder(getattr(args, option)))


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse an epoch or seed count below 1 and a data folder that does not exist."""
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs} must be at least 1")
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be at least 1")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise ConfigError(f"--data-dir {args.data_dir} does not exist: give a folder holding mnist/ and cifar10/")


def check_arguments(args: argparse.Namespace) -> tuple[list[str], str]:
    """The notebooks and the profile to run; every refusal (LabError) comes here, before anything is written."""
    notebooks = select_notebooks(args.only)
    check_numbers(args)
    check_workers(args)
    profile = resolve_profile(args.profile, allow_cpu=args.allow_cpu)  # before anything is written
    check_folders(args)
    return notebooks, profile


def prepare_build_dir(args: argparse.Namespace, profile: str) -> Path:
    """Create the build folder and remove what a killed run left half-written in every output folder."""
    build_dir = Path(args.build_dir or output_dir("build") / profile)
    build_dir.mkdir(parents=True, exist_ok=True)
    for folder in (args.figures_dir, args.tables_dir, args.runs_dir or runs_dir(), build_dir):
        for stale in remove_stale_temporaries(folder):  # left by a run that was killed mid-write
            print(f"run_all: removed {stale.name}, left half-written by an interrupted run", flush=True)
    return build_dir


def uses_workers(args: argparse.Namespace) -> bool:
    """Whether the runs are trained on workers (--workers, --scheduler or --slurm) before the notebooks."""
    return args.workers is not None or bool(args.scheduler) or bool(args.slurm)


def train_on_workers(args: argparse.Namespace, profile: str, notebooks: Sequence[str]) -> int | None:
    """Train the missing runs on the workers; an exit status when run_all ends here, None to go on."""
    try:
        train_first(args, profile, notebooks)
    except KeyboardInterrupt:
        print("run_all: interrupted while training; re-run to resume from the run cache", file=sys.stderr)
        return 130
    except LabError as exc:
        print(f"run_all: {exc}", file=sys.stderr)
        return 1
    if args.train_only:
        print(f"run_all: every run is in {args.runs_dir or runs_dir()}; notebooks not run (--train-only)", flush=True)
        return 0
    return None


def run_notebooks(args: argparse.Namespace, profile: str, notebooks: Sequence[str], build_dir: Path) -> int:
    """Execute the notebooks in order: 0, else the exit status of the first failure (1) or interruption (130)."""
    parameters = notebook_parameters(args, profile)
    for i, notebook in enumerate(notebooks, 1):
        print(f"run_all: [{i}/{len(notebooks)}] {notebook} (profile {profile})", flush=True)
        t0 = time.perf_counter()
        try:
            with RunWatcher(Path(args.runs_dir) if args.runs_dir else runs_dir(), _report_run):
                executed = execute(notebook, build_dir, parameters, log_output=args.log_output)
        except KeyboardInterrupt:
            print(f"run_all: interrupted in {notebook}; re-run to resume from the run cache", file=sys.stderr)
            return 130
        except Exception as exc:  # papermill, nbclient (dead kernel) and our own errors all end the run here
            print(describe_failure(notebook, exc, build_dir), file=sys.stderr)
            return 1
        print(f"run_all: {notebook} done in {time.perf_counter() - t0:.0f} s → {executed}", flush=True)
        if notebook == REPORT_NOTEBOOK and not args.no_html:
            report = export_html(executed, build_dir / "report.html")
            print(f"run_all: HTML report → {report}", flush=True)
    return 0


def write_handouts(args: argparse.Namespace, build_dir: Path) -> None:
    """The static site (unless --no-html) and the student versions of the notebooks."""
    if not args.no_html:  # every notebook executed so far (also by earlier --only runs), "not run" for the rest
        from lab_utils.report.site import write_site

        site = write_site(build_dir, NOTEBOOKS, figures_dir=Path(args.figures_dir), tables_dir=Path(args.tables_dir))
        print(f"run_all: static site → {site / 'index.html'} (opens from the file system)", flush=True)
    from lab_utils.run.student import write_student_versions

    student = write_student_versions([NOTEBOOKS_DIR / f"{n}.ipynb" for n in NOTEBOOKS], build_dir / "student")
    print(f"run_all: student versions (solutions folded away, no outputs) → {student[0].parent}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected notebooks; stop at the first failure with a message that names it."""
    args = parse_args(argv)
    set_up_process(args)
    try:
        notebooks, profile = check_arguments(args)
    except LabError as exc:
        print(f"run_all: {exc}", file=sys.stderr)
        return 2
    build_dir = prepare_build_dir(args, profile)
    started = time.perf_counter()
    if uses_workers(args):
        status = train_on_workers(args, profile, notebooks)
        if status is not None:
            return status
    status = run_notebooks(args, profile, notebooks, build_dir)
    if status != 0:
        return status
    write_handouts(args, build_dir)
    print(f"run_all: {len(notebooks)} notebook(s) in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
