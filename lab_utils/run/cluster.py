"""`run_all.sh --workers N` and `--scheduler ADDRESS`: train the report's runs concurrently, one run per device.

The report is ~20 independent trainings; splitting one batch of 64 over several devices barely helps models
this small, so the unit of scale is the run. Placement, retries and multiple machines come from Dask
distributed (chosen over Ray by measurement, README "Scale"): a local cluster of N worker processes, each
pinned to one GPU or to its share of the CPU cores, or an existing Dask cluster (a scheduler on a head node,
workers started on each machine with `scripts/cluster_worker.sh`, by hand or from Slurm jobs). The run cache,
on a folder every worker can reach, is the meeting point: workers write finished runs there, a lock per run
(lab_utils.training.run_lock) stops two workers from training the same one, and the notebooks then load them all.

Results equal the sequential ones on a CPU: each run keeps the thread count a sequential run would use
(TensorFlow's reductions split by it, see runtime.cpu_threads); only the cores under it are split.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lab_utils.errors import LabError
from lab_utils.run.workers import (
    WORKER_CPUS,
    import_dask,
    local_cluster,
    pin_to_worker_cpus,
    slurm_cluster,
    visible_gpus,
    worker_slots,
)
from lab_utils.run.workers import configure_dask as _configure_dask  # the name train_all and serve_workers call
from lab_utils.training.experiments import LOADS_EVERY_RUN, NOTEBOOK_RUNS

TASK_RETRIES = 2  # a task that raised is tried again this often; a killed worker's task is rescheduled anyway


@dataclass(frozen=True)
class LabSettings:
    """What every worker needs to rebuild the notebooks' training session: plain strings and numbers, so it pickles."""

    profile: str
    data_dir: str | None
    runs_dir: str
    seed: int = 0
    epochs: int | None = None
    seeds: int | None = None  # training seeds per run (--seeds; None: the profile's): a task trains all of them


@dataclass(frozen=True)
class RunResult:
    """What a worker reports for one run: the runner prints it as one line."""

    experiment: str
    augmentation: str | None
    summary: str  # lab_utils.run.progress.describe of its record, as the sequential run prints it
    cached: bool
    worker: str
    cpu_threads: int

    def line(self) -> str:
        """The runner's line for this run."""
        return f"{self.summary}{' (was in the cache)' if self.cached else ''} [{self.worker}]"


def planned_runs(notebooks: Iterable[str]) -> list[tuple[str, str | None]]:
    """The declared runs of the given notebooks (lab_utils.training.experiments.NOTEBOOK_RUNS), each once.

    A notebook that loads every run (05_results) needs them all. A notebook that reuses an earlier notebook's
    run (04 compares with 02's) trains it itself if it is missing: select the earlier notebook too to train it here.
    """
    notebooks = list(notebooks)
    if any(n in LOADS_EVERY_RUN for n in notebooks):
        notebooks = list(NOTEBOOK_RUNS)
    runs: list[tuple[str, str | None]] = []
    for notebook in notebooks:
        for run in NOTEBOOK_RUNS[notebook]:
            if run not in runs:
                runs.append(run)
    return runs


def pending_runs(settings: LabSettings, runs: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The runs not yet in the run cache (a killed run_all resumes here without retraining anything)."""
    session = _session(settings)
    return [run for run in runs if not all(session.is_cached(*run, seed=seed) for seed in session.seeds)]


_SESSIONS: dict[LabSettings, Any] = {}


def _session(settings: LabSettings) -> Any:
    """One training session per settings and process, so a worker loads each dataset once for all its runs."""
    from lab_utils.training.session import Session

    if settings not in _SESSIONS:
        _SESSIONS[settings] = Session(
            settings.profile,
            data_dir=settings.data_dir,
            runs_dir=settings.runs_dir,
            seed=settings.seed,
            seeds=settings.seeds,
            epochs=settings.epochs,
            verbose=0,
        )
    return _SESSIONS[settings]


def train_in_this_process(settings: LabSettings, experiment: str, augmentation: str | None) -> dict[str, Any]:
    """Train (or load) one run here and describe it: what `python -m lab_utils.run train-one` prints as JSON."""
    from lab_utils.run.progress import describe
    from lab_utils.training.runtime import cpu_threads

    runs = _session(settings).runs(experiment, augmentation)  # every seed; a second stage loads its first stage too
    more = f" (+ {len(runs) - 1} more seed(s))" if len(runs) > 1 else ""
    return {
        "summary": describe(runs[0].record) + more,
        "cached": all(r.cached for r in runs),
        "cpu_threads": cpu_threads(),
    }


def _die_with_parent() -> None:
    """In the training process: be killed when the worker that started it dies (Linux), never left training."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def train_task(settings: LabSettings, experiment: str, augmentation: str | None) -> RunResult:
    """Train (or load) one run on this worker, in a fresh Python process that it waits for.

    A fresh process per run, because a run trained inside the long-lived Dask worker process did not reproduce:
    the transfer models' test accuracy changed from worker to worker (ResNet50 + Adam, smoke: 8.33 % in a fresh
    process, a notebook kernel or a thread, 9.33–14.00 % in Dask workers), while a fresh process gives the
    sequential run's numbers bit for bit. It also frees each run's memory (GPU memory on a GPU) when it ends.
    """
    import json
    import socket
    import subprocess

    pin_to_worker_cpus()  # the training process inherits the cores
    payload = json.dumps({"settings": settings.__dict__, "experiment": experiment, "augmentation": augmentation})
    done = subprocess.run(
        [sys.executable, "-m", "lab_utils.run", "train-one", payload],
        capture_output=True,
        text=True,
        preexec_fn=_die_with_parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the training process exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return RunResult(
        experiment,
        augmentation,
        out["summary"],
        out["cached"],
        f"{socket.gethostname()} pid {os.getpid()}",
        out["cpu_threads"],
    )


def train_one_main(payload: str) -> int:
    """`python -m lab_utils.run train-one JSON`: the training process of train_task; prints one JSON line."""
    import json

    request = json.loads(payload)
    with contextlib.redirect_stdout(sys.stderr):  # the session's and Keras's own lines; stdout carries the result only
        result = train_in_this_process(
            LabSettings(**request["settings"]), request["experiment"], request["augmentation"]
        )
    print(json.dumps(result), flush=True)
    return 0


def train_all(
    settings: LabSettings,
    runs: Sequence[tuple[str, str | None]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    slurm_jobs: int | None = None,
    report: Callable[[RunResult], None] = print,
) -> list[RunResult]:
    """Train every run on the workers: a local cluster of `workers`, the cluster at `scheduler`, or Slurm jobs.

    Returns the results in completion order; raises LabError naming the run that failed for good.
    """
    import_dask()
    from distributed import Client, as_completed

    from lab_utils.training.runtime import cpu_threads

    if scheduler:
        _configure_dask()
        cluster, client = None, Client(scheduler, timeout="30s")
    else:
        cluster = (
            slurm_cluster(slurm_jobs)
            if slurm_jobs
            else local_cluster(worker_slots(workers or 1, gpus=visible_gpus(), threads=cpu_threads()))
        )
        client = Client(cluster)
    results = []
    try:
        futures = {
            client.submit(
                train_task,
                settings,
                experiment,
                augmentation,
                pure=False,
                key=f"train-{experiment}-{augmentation or 'plain'}-{time.time_ns()}",
                retries=TASK_RETRIES,
            ): (experiment, augmentation)
            for experiment, augmentation in runs
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:
                experiment, augmentation = futures[future]
                raise LabError(
                    f"training {experiment}{f' + {augmentation}' if augmentation else ''} failed on "
                    f"the workers: {type(exc).__name__}: {exc}"
                ) from exc
            report(result)
            results.append(result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


def serve_workers(scheduler: str, workers: int | None) -> None:
    """Start this machine's workers for the cluster at `scheduler` (one per GPU, or the cores split), until killed."""
    import asyncio
    import logging

    import_dask()
    from distributed import Nanny

    from lab_utils.training.runtime import cpu_threads

    _configure_dask()
    gpus = visible_gpus()
    slots = worker_slots(workers or len(gpus) or 1, gpus=gpus, threads=cpu_threads())

    async def run() -> None:
        nannies = [Nanny(scheduler, nthreads=1, memory_limit=0, env=env, silence_logs=logging.WARNING) for env in slots]
        await asyncio.gather(*(n.start() for n in nannies))
        places = (
            f"cores {env[WORKER_CPUS]}" if env.get(WORKER_CPUS) else f"GPU {env['CUDA_VISIBLE_DEVICES']}"
            for env in slots
        )
        print(f"cluster: {len(nannies)} worker(s) joined {scheduler}: " + "; ".join(places), flush=True)
        await asyncio.gather(*(n.finished() for n in nannies))

    asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    """`scripts/cluster_worker.sh ADDRESS [--workers N]`: this machine's workers for a shared run_all."""
    parser = argparse.ArgumentParser(prog="cluster_worker.sh", description=serve_workers.__doc__)
    parser.add_argument("scheduler", help="the Dask scheduler's address, e.g. tcp://head-node:8786")
    parser.add_argument("--workers", type=int, help="default: one per visible GPU, else 1 with every core")
    args = parser.parse_args(argv)
    try:
        serve_workers(args.scheduler, args.workers)
    except LabError as exc:
        print(f"cluster_worker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
