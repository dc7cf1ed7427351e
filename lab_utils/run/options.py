"""run_all.sh's command line: every option, its default and its help, in one parser."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from lab_utils.paths import output_dir
from lab_utils.training.profiles import PROFILES


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of run_all.sh."""
    parser = argparse.ArgumentParser(
        prog="run_all.sh",
        description="Run the report's notebooks in order with papermill and regenerate every figure and table.",
    )
    parser.add_argument(
        "--profile",
        default="auto",
        choices=["auto", *PROFILES],
        help="smoke: a few minutes, chance-level numbers; lesson: under 30 min on 2 cores, the report's "
        "effects visible; quick: full data, few epochs; full: the report's protocol (GPU). "
        "Default auto: full when a GPU is visible, else lesson.",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this notebook (e.g. 02 or 02_cifar10_cnn); repeatable",
    )
    parser.add_argument(
        "--data-dir",
        help="folder with mnist/ and cifar10/ in the official formats "
        "(default: LAB_DATA_DIR, the Keras cache, then download)",
    )
    parser.add_argument("--figures-dir", default=str(output_dir("figures")), help="default: figures/")
    parser.add_argument("--tables-dir", default=str(output_dir("tables")), help="default: tables/")
    parser.add_argument("--runs-dir", help="run cache; default runs/ or LAB_RUNS_DIR")
    parser.add_argument("--build-dir", help="executed notebooks and report.html; default build/<profile>/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="training seeds per run of the tables and claims (seed, seed + 1, ...): tables show mean "
        "± std over them; with --workers each worker task trains every seed of its run. "
        "Default: the profile's (5 under full, else 1)",
    )
    parser.add_argument("--epochs", type=int, help="override every run's epoch budget")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML report and the static site")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output (training logs)")
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="run --profile full even where the backend sees no GPU (days of CPU time)",
    )
    parser.add_argument(
        "--data-parallel",
        action="store_true",
        help="split every batch across all GPUs (or virtual CPU devices): sets LAB_DATA_PARALLEL=1",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="first train every run the notebooks need that is not in the run cache, N at a time: "
        "placed on the GPUs round-robin (N may exceed them: runs on small data leave a GPU idle "
        "while compiling), or on a CPU the cores split between N processes (needs the `cluster` "
        "extra, Dask); then run the notebooks, which load them",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="like --workers, on an existing Dask cluster (e.g. tcp://head-node:8786) whose workers "
        "were started with scripts/cluster_worker.sh; --runs-dir must be a folder they share",
    )
    parser.add_argument(
        "--slurm",
        type=int,
        metavar="JOBS",
        help="like --workers, with JOBS Slurm jobs as the workers (dask-jobqueue; job size from "
        "~/.config/dask/jobqueue.yaml); --runs-dir must be on a shared file system",
    )
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="with --workers/--scheduler: train the runs into the run cache, run no notebook",
    )
    return parser.parse_args(argv)
