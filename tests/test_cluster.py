"""run_all.sh --workers: the report's runs trained concurrently with Dask, one per device, resumable.

The 2-worker runs here are real (smoke profile, real mini data, real TensorFlow training in Dask worker
processes); what they check could fail: equal tables, a killed worker's run retried, nothing finished retrained.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_utils.errors import ConfigError
from lab_utils.run.cluster import planned_runs
from lab_utils.run.runner import NOTEBOOKS
from lab_utils.run.workers import WORKER_CPUS, worker_slots
from lab_utils.training.experiments import NOTEBOOK_RUNS
from lab_utils.training.records import RECORD_FILE
from lab_utils.training.run_lock import LOCK_SUFFIX

from .helpers import ROOT, call_runner, run_all, run_all_command


def test_planned_runs_are_the_declared_runs_of_the_notebooks_each_once() -> None:
    runs = planned_runs(NOTEBOOKS)
    declared = {run for name in NOTEBOOKS for run in NOTEBOOK_RUNS.get(name, ())}
    assert len(runs) == len(set(runs)) and set(runs) == declared  # every declared run, each once
    first = runs.index(NOTEBOOK_RUNS["02_cifar10_cnn"][0])
    assert set(runs[:first]) == set(NOTEBOOK_RUNS["01_mnist_cnn"])  # in notebook order
    assert planned_runs(["00_data_exploration"]) == []
    assert planned_runs(["05_results"]) == runs  # it loads every run


def test_cpu_workers_split_the_cores_and_keep_the_sequential_thread_count() -> None:
    slots = worker_slots(2, cores=[0, 1, 2, 3, 4], threads=5)
    assert [s[WORKER_CPUS] for s in slots] == ["0,1,2", "3,4"]
    assert {s["TF_NUM_INTRAOP_THREADS"] for s in slots} == {"5"}
    assert all(s["CUDA_VISIBLE_DEVICES"] == "" for s in slots)


def test_gpu_workers_get_one_gpu_each() -> None:
    assert worker_slots(2, gpus=["0", "3", "5"]) == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "3"}]


def test_more_workers_than_gpus_share_them_round_robin_and_allocate_memory_on_demand() -> None:
    slots = worker_slots(5, gpus=["0", "3"])
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "3", "0", "3", "0"]
    assert all(
        s["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and s["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for s in slots
    )


@pytest.mark.parametrize(
    "workers, kwargs, message",
    [
        (3, {"cores": [0, 1]}, "--workers 3 but this machine has 2 CPU core(s): give --workers 2 or fewer"),
        (0, {"cores": [0]}, "--workers 0: give at least 1"),
    ],
)
def test_impossible_worker_counts_are_refused(workers: int, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        worker_slots(workers, **kwargs)


def test_without_dask_workers_says_how_to_get_it_and_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails as if not installed
    code, _, stderr = call_runner(tmp_path, "--profile", "smoke", "--workers", "2")
    assert code == 2
    assert "pip install -e '.[cluster]'" in stderr
    assert not (tmp_path / "build").exists() and not (tmp_path / "runs").exists()


def _records(runs: Path) -> dict[str, float]:
    """Each finished run's folder name and record mtime: a retrained run gets a new mtime."""
    return {p.parent.name: p.stat().st_mtime for p in runs.glob(f"*/{RECORD_FILE}")}


def _start(out: Path, mini: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        run_all_command(
            out, "--profile", "smoke", "--data-dir", str(mini), "--only", "02", "--workers", "2", "--train-only", *args
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(condition, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _locks(runs: Path) -> dict[str, int]:
    """Run name → pid of the process that holds its lock now."""
    found = {}
    for path in runs.glob(f"*{LOCK_SUFFIX}"):
        try:
            found[path.name[: -len(LOCK_SUFFIX)]] = json.loads(path.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            continue  # being written or removed
    return found


@pytest.mark.e2e
def test_kills_of_everything_then_of_one_worker_lose_no_run_and_train_none_twice(tmp_path: Path, mini: Path) -> None:
    """Notebook 02's four runs on 2 workers. Everything SIGKILLed mid-run: the re-run trains only the unfinished
    runs and takes over the dead locks. In that re-run one worker is killed mid-run: its run is retried by another
    worker process. Each run is trained once, and a third run trains nothing."""
    runs = tmp_path / "runs"
    proc = _start(tmp_path, mini)
    _wait_for(lambda: (len(_records(runs)) >= 1 and _locks(runs)) or proc.poll() is not None)
    os.killpg(proc.pid, signal.SIGKILL)  # run_all, the scheduler and both workers, mid-run
    proc.communicate(timeout=60)
    finished, dead = _records(runs), _locks(runs)
    assert 1 <= len(finished) < 4 and dead  # locks of dead workers left behind

    again = _start(tmp_path, mini)
    _wait_for(
        lambda: (
            any(pid not in dead.values() and Path(f"/proc/{pid}").exists() for pid in _locks(runs).values())
            or again.poll() is not None
        )
    )
    killed_run, trainer = next((run, pid) for run, pid in _locks(runs).items() if pid not in dead.values())
    victim = int(Path(f"/proc/{trainer}/stat").read_text().rsplit(")", 1)[1].split()[1])  # the worker it runs in
    os.kill(victim, signal.SIGKILL)  # a worker dies mid-run; its training process dies with it
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert f"{4 - len(finished)} of the 4 runs these notebooks need are not in the run cache" in stdout
    trained = re.findall(r"^run_all:   trained (\w+):", stdout, re.M)
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 4 - len(finished), stdout
    assert json.loads((runs / killed_run / RECORD_FILE).read_text())  # finished by another worker process
    assert f"pid {victim}]" not in stdout and not Path(f"/proc/{trainer}").exists()
    after = _records(runs)
    assert len(after) == 4 and all(after[name] == mtime for name, mtime in finished.items())
    assert not _locks(runs) and not list(runs.glob(f"*{LOCK_SUFFIX}"))

    third = _start(tmp_path, mini)
    stdout, stderr = third.communicate(timeout=600)
    assert third.returncode == 0, stderr[-3000:]
    assert "0 of the 4 runs these notebooks need are not in the run cache" in stdout
    assert _records(runs) == after


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_a_cluster_of_scheduler_and_worker_script_trains_into_the_shared_cache(tmp_path: Path, mini: Path) -> None:
    """The multi-machine set-up on loopback: cluster_scheduler.sh, cluster_worker.sh, run_all.sh --scheduler."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    scheduler = subprocess.Popen(
        [
            "bash",
            str(ROOT / "scripts" / "cluster_scheduler.sh"),
            "--host",
            "127.0.0.1",
            "--port",
            address.rsplit(":", 1)[1],
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "cluster_worker.sh"), address, "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        result = run_all(
            tmp_path,
            "--profile",
            "smoke",
            "--data-dir",
            str(mini),
            "--only",
            "01",
            "--scheduler",
            address,
            "--train-only",
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        assert (
            f"2 of the 2 runs these notebooks need are not in the run cache: training them on the cluster at "
            f"{address}" in result.stdout
        )
        assert len(_records(tmp_path / "runs")) == 2
        assert "notebooks not run (--train-only)" in result.stdout and not list((tmp_path / "build").glob("*"))
    finally:
        outputs = []
        for proc in (worker, scheduler):
            os.killpg(proc.pid, signal.SIGTERM)
            outputs.append(proc.communicate(timeout=60)[0])
    assert "cluster: 2 worker(s) joined" in outputs[0]


def test_slurm_jobs_get_their_size_from_dask_jobqueue_settings_and_one_task_thread() -> None:
    import dask
    from dask_jobqueue.slurm import SLURMJob

    from lab_utils.run.workers import slurm_job_options

    with (
        dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.slurm.memory": None}),
        pytest.raises(ConfigError, match=r"jobqueue\.yaml"),
    ):
        slurm_job_options()
    settings = {
        "jobqueue.slurm.cores": 8,
        "jobqueue.slurm.memory": "32GB",
        "jobqueue.slurm.job-extra-directives": ["--gres=gpu:1"],
    }
    with dask.config.set(settings):
        script = SLURMJob(scheduler="tcp://127.0.0.1:8786", **slurm_job_options()).job_script()
    assert "#SBATCH --cpus-per-task=8" in script and "#SBATCH --gres=gpu:1" in script
    assert "--nthreads 1" in script and sys.executable in script
    assert "export TF_NUM_INTRAOP_THREADS=8" in script and f"cd {ROOT}" in script
