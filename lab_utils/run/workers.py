"""Where the workers run: a local Dask cluster (one worker per GPU, or the CPU cores split), Slurm jobs, and the
settings every worker process takes first (its cores, quiet and patient Dask). lab_utils.run.cluster sends them
the runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab_utils import settings
from lab_utils.errors import ConfigError

INSTALL_HINT = (
    "--workers and --scheduler need Dask distributed, the optional extra `cluster`: "
    ".venv/bin/pip install -e '.[cluster]' (or pip install -e '.[cluster]' in your environment)"
)
WORKER_CPUS = "LAB_WORKER_CPUS"  # the cores a local worker is pinned to, e.g. "0,1" (declared in lab_utils.settings)


def import_dask() -> Any:
    """`distributed`, or one ConfigError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return distributed


def worker_slots(
    workers: int, *, gpus: Sequence[str] | None = None, cores: Sequence[int] | None = None, threads: int | None = None
) -> list[dict[str, str]]:
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
        raise ConfigError(
            f"--workers {workers} but this machine has {len(cores)} CPU core(s): give --workers "
            f"{len(cores)} or fewer (a run needs at least one core)"
        )
    threads = threads or len(cores)
    share, extra = divmod(len(cores), workers)
    slots, start = [], 0
    for i in range(workers):
        end = start + share + (1 if i < extra else 0)
        slots.append(
            {
                WORKER_CPUS: ",".join(map(str, cores[start:end])),
                "TF_NUM_INTRAOP_THREADS": str(threads),
                "CUDA_VISIBLE_DEVICES": "",
            }
        )
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
    value = settings.text(WORKER_CPUS)
    if not value or not hasattr(os, "sched_setaffinity"):
        return
    cores = {int(c) for c in value.split(",")}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), cores)


def configure_dask() -> None:
    """Quiet, patient Dask settings: a training step may hold the GIL for seconds, which is not an error.

    Dask's INFO lines (connections, plugins, "event loop was unresponsive" while TensorFlow imports) are not a
    student's business: warnings only, here and in the worker processes, which read the variable at import.
    """
    import logging

    import dask

    os.environ["DASK_LOGGING__DISTRIBUTED"] = "warning"
    logging.getLogger("distributed").setLevel(logging.WARNING)

    dask.config.set(
        {
            "distributed.admin.tick.limit": "1h",  # no "event loop was unresponsive" warnings during long steps
            "distributed.worker.memory.target": False,
            "distributed.worker.memory.spill": False,
            "distributed.worker.memory.pause": False,
            "distributed.worker.memory.terminate": False,
            "distributed.scheduler.allowed-failures": 3,  # a run whose worker died 4 times is reported, not retried
        }
    )


def local_cluster(slots: Sequence[dict[str, str]]) -> Any:
    """A Dask cluster on this machine: one single-threaded worker process per slot, with the slot's env."""
    import logging

    from distributed import Nanny, Scheduler, SpecCluster

    configure_dask()
    # Loopback only: a local cluster has no business on the network (and no firewall question to ask).
    workers = {
        f"worker-{i}": {"cls": Nanny, "options": {"nthreads": 1, "memory_limit": 0, "env": env, "host": "127.0.0.1"}}
        for i, env in enumerate(slots)
    }
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
        raise ConfigError(
            "--slurm needs the size of one job in dask-jobqueue's settings: put e.g. `jobqueue: "
            "{slurm: {cores: 8, memory: 32GB, walltime: '12:00:00', job-extra-directives: "
            "['--gres=gpu:1']}}` in ~/.config/dask/jobqueue.yaml"
        )
    from lab_utils.paths import PROJECT_ROOT

    return {
        "cores": 1,
        "processes": 1,
        "job_cpu": int(cpus),
        "memory": memory,
        "python": sys.executable,
        "job_script_prologue": [f"cd {PROJECT_ROOT}", f"export TF_NUM_INTRAOP_THREADS={int(cpus)}"],
    }


def slurm_cluster(jobs: int) -> Any:
    """A Dask cluster whose workers are `jobs` Slurm jobs (dask-jobqueue submits them with sbatch)."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError(
            INSTALL_HINT.replace("--workers and --scheduler need Dask distributed", "--slurm needs dask-jobqueue")
        ) from None
    configure_dask()
    cluster = SLURMCluster(**slurm_job_options())
    cluster.scale(jobs=jobs)
    return cluster
