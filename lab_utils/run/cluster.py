"""`run_all.sh --workers N` and `--scheduler ADDRESS`: train the report's runs concurrently, one run per device.

The report is ~20 independent trainings; splitting one batch of 64 over several devices barely helps models
this small, so the unit of scale is the run. Placement, retries and multiple machines come from Dask
distributed (chosen over Ray by measurement, README "Scale"): a local cluster of N worker processes, each
pinned to one GPU or to its share of the CPU cores, or an existing Dask cluster (a scheduler on a head node,
workers started on each machine with `scripts/cluster_worker.sh`, by hand or from Slurm jobs). The run cache,
on a folder every worker can reach, is the meeting point: workers write finished runs there, a claim per run
(lab_utils.training.claim) stops two workers from training the same one, and the notebooks then load them all.

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
from pathlib import Path
from typing import Any

from lab_utils.errors import ConfigError, LabError
from lab_utils.training.experiments import LOADS_EVERY_RUN, NOTEBOOK_RUNS

INSTALL_HINT = ("--workers and --scheduler need Dask distributed, the optional extra `cluster`: "
                ".venv/bin/pip install -e '.[cluster]' (or pip install -e '.[cluster]' in your environment)")
WORKER_CPUS = "LAB_WORKER_CPUS"  # the cores a local worker is pinned to, e.g. "0-3" (set per worker)
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


def import_dask() -> Any:
    """`distributed`, or one ConfigError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return distributed


def worker_slots(workers: int, *, gpus: Sequence[str] | None = None, cores: Sequence[int] | None = None,
                 threads: int | None = None) -> list[dict[str, str]]:
    """The environment of each local worker: one GPU each, or on a CPU a contiguous share of the cores.

    On a CPU every worker keeps `threads` intra-op threads (a sequential run's count), so results are
    bit-identical to a sequential run; with fewer cores than threads a worker's threads share its cores.
    """
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if gpus:
        return gpu_slots(workers, gpus)
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
    if workers > len(cores):
        raise ConfigError(f"--workers {workers} but this machine has {len(cores)} CPU core(s): give --workers "
                          f"{len(cores)} or fewer (a run needs at least one core)")
    threads = threads or len(cores)
    share, extra = divmod(len(cores), workers)
    slots, start = [], 0
    for i in range(workers):
        end = start + share + (1 if i < extra else 0)
        slots.append({WORKER_CPUS: ",".join(map(str, cores[start:end])), "TF_NUM_INTRAOP_THREADS": str(threads),
                      "CUDA_VISIBLE_DEVICES": ""})
        start = end
    return slots


def gpu_slots(workers: int, gpus: Sequence[str]) -> list[dict[str, str]]:
    """Workers placed on the GPUs round-robin; GPUs shared by several workers let each grow its memory on demand.

    A run on small data leaves its GPU idle while it compiles, so two or three workers per GPU overlap that;
    JAX would otherwise take 75 % of the GPU's memory per process and TensorFlow all of it.
    """
    shared = workers > len(gpus)
    sharing = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"} if shared else {}
    return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)], **sharing} for i in range(workers)]


def visible_gpus() -> list[str]:
    """The GPUs a worker can be pinned to, as CUDA_VISIBLE_DEVICES values (honouring an existing selection)."""
    from lab_utils.training.runtime import accelerator

    if accelerator() is None:
        return []
    selected = os.environ.get("CUDA_VISIBLE_DEVICES")
    if selected:
        return [gpu for gpu in selected.split(",") if gpu.strip()]
    count = int(accelerator().rsplit("×", 1)[-1])
    return [str(i) for i in range(count)]


def pin_to_worker_cpus() -> None:
    """Pin every thread of this process to the cores in LAB_WORKER_CPUS (threads made later inherit it)."""
    value = os.environ.get(WORKER_CPUS)
    if not value or not hasattr(os, "sched_setaffinity"):
        return
    cores = {int(c) for c in value.split(",")}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cores)


_SESSIONS: dict[LabSettings, Any] = {}


def _session(settings: LabSettings) -> Any:
    """One training session per settings and process, so a worker loads each dataset once for all its runs."""
    from lab_utils.training.session import Session

    if settings not in _SESSIONS:
        _SESSIONS[settings] = Session(settings.profile, data_dir=settings.data_dir, runs_dir=settings.runs_dir,
                                      seed=settings.seed, seeds=settings.seeds, epochs=settings.epochs, verbose=0)
    return _SESSIONS[settings]


def train_in_this_process(settings: LabSettings, experiment: str, augmentation: str | None) -> dict[str, Any]:
    """Train (or load) one run here and describe it: what `python -m lab_utils.run train-one` prints as JSON."""
    from lab_utils.run.progress import describe
    from lab_utils.training.runtime import cpu_threads

    runs = _session(settings).runs(experiment, augmentation)  # every seed; a second stage loads its first stage too
    more = f" (+ {len(runs) - 1} more seed(s))" if len(runs) > 1 else ""
    return {"summary": describe(runs[0].record) + more, "cached": all(r.cached for r in runs),
            "cpu_threads": cpu_threads()}


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
    done = subprocess.run([sys.executable, "-m", "lab_utils.run", "train-one", payload], capture_output=True,
                          text=True, preexec_fn=_die_with_parent)
    if done.returncode != 0:
        raise RuntimeError(f"the training process exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return RunResult(experiment, augmentation, out["summary"], out["cached"],
                     f"{socket.gethostname()} pid {os.getpid()}", out["cpu_threads"])


def train_one_main(payload: str) -> int:
    """`python -m lab_utils.run train-one JSON`: the training process of train_task; prints one JSON line."""
    import json

    request = json.loads(payload)
    with contextlib.redirect_stdout(sys.stderr):  # the session's and Keras's own lines; stdout carries the result only
        result = train_in_this_process(LabSettings(**request["settings"]), request["experiment"],
                                       request["augmentation"])
    print(json.dumps(result), flush=True)
    return 0


def _configure_dask() -> None:
    """Quiet, patient Dask settings: a training step may hold the GIL for seconds, which is not an error.

    Dask's INFO lines (connections, plugins, "event loop was unresponsive" while TensorFlow imports) are not a
    student's business: warnings only, here and in the worker processes, which read the variable at import.
    """
    import logging

    import dask

    os.environ["DASK_LOGGING__DISTRIBUTED"] = "warning"
    logging.getLogger("distributed").setLevel(logging.WARNING)

    dask.config.set({
        "distributed.admin.tick.limit": "1h",  # no "event loop was unresponsive" warnings during long steps
        "distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False,
        "distributed.scheduler.allowed-failures": 3,  # a run whose worker died 4 times is reported, not retried
    })


def local_cluster(slots: Sequence[dict[str, str]]) -> Any:
    """A Dask cluster on this machine: one single-threaded worker process per slot, with the slot's env."""
    import logging

    from distributed import Nanny, Scheduler, SpecCluster

    _configure_dask()
    # Loopback only: a local cluster has no business on the network (and no firewall question to ask).
    workers = {f"worker-{i}": {"cls": Nanny, "options": {"nthreads": 1, "memory_limit": 0, "env": env,
                                                         "host": "127.0.0.1"}}
               for i, env in enumerate(slots)}
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": None, "host": "127.0.0.1"}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING)


def slurm_job_options() -> dict[str, Any]:
    """dask-jobqueue settings for one Slurm job = one worker that trains one run at a time.

    The job's size comes from dask-jobqueue's own settings (`jobqueue.slurm` in ~/.config/dask/jobqueue.yaml:
    cores, memory, queue, walltime, job-extra-directives such as `--gres=gpu:1`), as on any cluster that already
    uses it. The worker gets 1 task thread whatever `cores` says; its runs use all the job's cores.
    """
    import dask

    cpus = dask.config.get("jobqueue.slurm.job-cpu", None) or dask.config.get("jobqueue.slurm.cores", None)
    memory = dask.config.get("jobqueue.slurm.memory", None)
    if not cpus or not memory:
        raise ConfigError("--slurm needs the size of one job in dask-jobqueue's settings: put e.g. `jobqueue: "
                          "{slurm: {cores: 8, memory: 32GB, walltime: '12:00:00', job-extra-directives: "
                          "['--gres=gpu:1']}}` in ~/.config/dask/jobqueue.yaml")
    from lab_utils.paths import PROJECT_ROOT

    return {"cores": 1, "processes": 1, "job_cpu": int(cpus), "memory": memory, "python": sys.executable,
            "job_script_prologue": [f"cd {PROJECT_ROOT}", f"export TF_NUM_INTRAOP_THREADS={int(cpus)}"]}


def slurm_cluster(jobs: int) -> Any:
    """A Dask cluster whose workers are `jobs` Slurm jobs (dask-jobqueue submits them with sbatch)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError(INSTALL_HINT.replace("--workers and --scheduler need Dask distributed",
                                               "--slurm needs dask-jobqueue")) from None
    _configure_dask()
    cluster = SLURMCluster(**slurm_job_options())
    cluster.scale(jobs=jobs)
    return cluster


def train_all(settings: LabSettings, runs: Sequence[tuple[str, str | None]], *, workers: int | None = None,
              scheduler: str | None = None, slurm_jobs: int | None = None,
              report: Callable[[RunResult], None] = print) -> list[RunResult]:
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
        cluster = (slurm_cluster(slurm_jobs) if slurm_jobs else
                   local_cluster(worker_slots(workers or 1, gpus=visible_gpus(), threads=cpu_threads())))
        client = Client(cluster)
    results = []
    try:
        futures = {client.submit(train_task, settings, experiment, augmentation, pure=False,
                                 key=f"train-{experiment}-{augmentation or 'plain'}-{time.time_ns()}",
                                 retries=TASK_RETRIES): (experiment, augmentation)
                   for experiment, augmentation in runs}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:
                experiment, augmentation = futures[future]
                raise LabError(f"training {experiment}{f' + {augmentation}' if augmentation else ''} failed on "
                               f"the workers: {type(exc).__name__}: {exc}") from exc
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
        nannies = [Nanny(scheduler, nthreads=1, memory_limit=0, env=env, silence_logs=logging.WARNING)
                   for env in slots]
        await asyncio.gather(*(n.start() for n in nannies))
        print(f"cluster: {len(nannies)} worker(s) joined {scheduler}: "
              + "; ".join(env.get(WORKER_CPUS) and f"cores {env[WORKER_CPUS]}" or f"GPU {env['CUDA_VISIBLE_DEVICES']}"
                          for env in slots), flush=True)
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

