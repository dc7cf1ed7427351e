"""Killing run_all.sh mid-notebook, resuming, and getting byte-identical tables: for real, with signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from lab_utils.report.tables import read_table
from lab_utils.run.cluster import planned_runs
from lab_utils.training.records import RECORD_FILE, WEIGHTS_FILE

from .helpers import ROOT, call_runner, run_all, run_all_command

# The only record fields allowed to differ between two runs: timings, and the cores a worker was pinned to.
TIMING_FIELDS = {"epoch_seconds", "created", "device"}
# How a run was executed, not what it learned: a notebook's plain `compile` runs 1 step per call, a batch worker
# 8 (lab_utils.training.build.compile_options); the same key, the same weights and predictions.
EXECUTION_FIELDS = ("steps_per_execution", "jit_compile")


def complete_runs(runs: Path) -> dict[str, str]:
    """Run folder → record text, for every finished run (a run folder only appears complete)."""
    if not runs.is_dir():
        return {}
    return {
        p.name: (p / RECORD_FILE).read_text()
        for p in runs.iterdir()
        if not p.name.startswith(".") and (p / RECORD_FILE).is_file()
    }


def kernels_of(pid: int) -> list[int]:
    """The Jupyter kernels started by process `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"ipykernel" in cmdline:
            found.append(int(stat.parent.name))
    return found


def interrupt(out: Path, sig: int, *args: str, after_runs: int) -> tuple[int, str, set[str], list[int]]:
    """Start run_all.sh, send `sig` once `after_runs` runs are saved; return rc, stderr, runs then, kernels."""
    process = subprocess.Popen(
        run_all_command(out, *args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 900
    kernels: list[int] = []
    while len(complete_runs(out / "runs")) < after_runs:
        assert process.poll() is None, "run_all.sh ended before it could be interrupted"
        assert time.monotonic() < deadline, "no progress"
        kernels = kernels_of(process.pid) or kernels
        time.sleep(0.5)
    kernels = kernels_of(process.pid) or kernels
    finished = set(complete_runs(out / "runs"))
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr, finished, kernels


def assert_no_half_written_outputs(out: Path) -> None:
    """Every figure is a readable PNG, every table parses, every run folder has record + weights."""
    for png in (out / "figures").glob("*.png"):
        assert mpimg.imread(png).size > 0
    for csv in (out / "tables").glob("*.csv"):
        assert read_table(csv)
    for run in (out / "runs").iterdir():
        if not run.name.startswith("."):
            assert (run / WEIGHTS_FILE).is_file() and json.loads((run / RECORD_FILE).read_text())
    leftovers = [
        p
        for folder in ("figures", "tables", "build")
        if (out / folder).is_dir()
        for p in (out / folder).iterdir()
        if p.name.startswith(".")
    ]
    assert not leftovers, leftovers
    assert not list((out / "build").glob("*.partial*"))


def assert_stopped(kernels: list[int]) -> None:
    """The interrupted run's kernels are gone (no orphan keeps training)."""
    assert kernels, "no kernel was seen while the notebook ran"
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in kernels) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(Path(f"/proc/{pid}").exists() for pid in kernels), "a kernel outlived run_all.sh"


@pytest.mark.e2e
def test_sigterm_mid_run_then_resume_on_two_workers_reproduces_the_smoke_run_byte_for_byte(
    smoke: Path, mini: Path, tmp_path: Path
) -> None:
    """Notebooks 01 and 03 stopped by SIGTERM mid-run (what `kill` and a batch scheduler send; Ctrl-C takes the same
    path, see test_both_stop_signals_interrupt_the_runner): only whole outputs, no kernel left. Resumed with
    `--workers 2`: nothing finished is trained again, and the tables (MNIST, Table II) and run records equal those
    of the uninterrupted smoke run."""
    args = ("--profile", "smoke", "--data-dir", str(mini), "--only", "01", "--only", "03")
    rc, stderr, finished, kernels = interrupt(tmp_path, signal.SIGTERM, *args, after_runs=2)
    assert rc == 130 and "interrupted in" in stderr
    assert_stopped(kernels)
    assert_no_half_written_outputs(tmp_path)
    built = [p.name for p in (tmp_path / "build").glob("*.ipynb")]
    assert not any(name.startswith("03") and not name.endswith(".failed.ipynb") for name in built), built
    saved = complete_runs(tmp_path / "runs")
    assert finished <= set(saved)

    result = run_all(tmp_path, *args, "--workers", "2", "--no-html")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = len(planned_runs(["01_mnist_cnn", "03_transfer_learning"]))
    pending = re.search(
        r"(\d+) of the (\d+) runs these notebooks need are not in the run cache: training them on 2 "
        r"local worker\(s\)",
        result.stdout,
    )
    assert pending and int(pending[2]) == planned and 0 < int(pending[1]) <= planned - len(saved), result.stdout
    assert len(set(re.findall(r"^run_all:   trained .* \[\S+ pid (\d+)\]$", result.stdout, re.M))) == 2, (
        result.stdout
    )  # both workers trained
    resumed = complete_runs(tmp_path / "runs")
    assert all(resumed[name] == saved[name] for name in saved), "a finished run was trained again"
    assert (tmp_path / "build" / "03_transfer_learning.ipynb").is_file()
    assert not list((tmp_path / "build").glob("*.failed.ipynb"))

    # Determinism: same seed, profile, backend and CPU → the same tables, byte for byte, and the same records.
    tables = sorted(p.name for p in (tmp_path / "tables").iterdir())
    assert {"mnist.csv", "mnist.md", "table2.csv", "table2.md"} <= set(tables)
    for name in tables:
        assert (tmp_path / "tables" / name).read_bytes() == (smoke / "tables" / name).read_bytes(), name
    reference = complete_runs(smoke / "runs")
    assert set(resumed) <= set(reference)  # 03 also trains 02's VGG + BN to compare with
    for name, text in resumed.items():
        ours, theirs = json.loads(text), json.loads(reference[name])
        assert ours["deterministic"] is True
        for field in (*TIMING_FIELDS, *EXECUTION_FIELDS):
            ours.pop(field), theirs.pop(field)
        assert ours == theirs, name


def test_both_stop_signals_interrupt_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT (Ctrl-C, even when started with it ignored) and SIGTERM both raise KeyboardInterrupt in the runner,
    the path that shuts the kernel down and says how to resume."""
    from types import SimpleNamespace

    from lab_utils.run import runner

    installed: dict[int, object] = {}
    recorder = SimpleNamespace(
        **{n: getattr(signal, n) for n in ("SIGINT", "SIGTERM", "default_int_handler")}, signal=installed.__setitem__
    )
    monkeypatch.setattr(runner, "signal", recorder)  # the runner's handlers are recorded, not installed
    call_runner(tmp_path, "--epochs", "0")  # refused after the handlers are installed
    for sig in (signal.SIGINT, signal.SIGTERM):
        assert sig in installed, f"run_all installs no handler for {sig.name}"
        with pytest.raises(KeyboardInterrupt):
            installed[sig](sig, None)


@pytest.mark.skipif(os.environ.get("LAB_DATA_PARALLEL"), reason="compares against single-device runs")
def test_records_say_the_runs_were_deterministic(smoke: Path) -> None:
    records = [json.loads(text) for text in complete_runs(smoke / "runs").values()]
    assert records and all(r["deterministic"] and r["replicas"] == 1 for r in records)
