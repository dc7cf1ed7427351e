"""Helpers shared by the test files: paths of the real data, ./run_all.sh in a subprocess, and its runner called
in-process (for the runner's own logic: arguments, refusals; seconds instead of a bootstrap and a kernel)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT.parent / "shared" / "data" / "mini"


def output_options(out: Path) -> list[str]:
    """Every output folder of run_all.sh under `out`."""
    return [
        "--figures-dir",
        str(out / "figures"),
        "--tables-dir",
        str(out / "tables"),
        "--runs-dir",
        str(out / "runs"),
        "--build-dir",
        str(out / "build"),
    ]


def smoke_options(data: Path, *args: str) -> list[str]:
    """run_all.sh's options for a smoke run on `data` (the mini data), then `args`."""
    return ["--profile", "smoke", "--data-dir", str(data), *args]


def run_all_command(out: Path, *args: str) -> list[str]:
    """./run_all.sh with every output folder under `out`."""
    return ["bash", str(ROOT / "run_all.sh"), *output_options(out), *args]


def run_all(out: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ./run_all.sh to completion (30 min at most) and return its result."""
    return subprocess.run(run_all_command(out, *args), cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)


def call_runner(out: Path, *args: str) -> tuple[int, str, str]:
    """run_all.sh's runner (lab_utils.run.runner.main) in this process: exit code, stdout, stderr.

    For arguments it refuses before any work; the environment and signal handlers it sets are restored.
    """
    from lab_utils.run.runner import main

    environment, handlers = dict(os.environ), {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main([*output_options(out), *args])
            except SystemExit as exit_:  # argparse's refusals
                code = exit_.code
    finally:
        os.environ.clear()
        os.environ.update(environment)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return code, stdout.getvalue(), stderr.getvalue()


def run_smoke_notebook(source: Path, out: Path, outputs: Path, mini: Path) -> Any:
    """Execute one notebook under `smoke` with papermill (cwd notebooks/, as run_all.sh), its figures, tables and
    run cache under `outputs`; raises on any cell error, returns the executed notebook."""
    import nbformat
    import papermill

    papermill.execute_notebook(
        str(source),
        str(out),
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
        parameters={
            "profile": "smoke",
            "data_dir": str(mini),
            "figures_dir": str(outputs / "figures"),
            "tables_dir": str(outputs / "tables"),
            "runs_dir": str(outputs / "runs"),
        },
    )
    return nbformat.read(out, as_version=4)
