"""Helpers shared by the test files: paths of the real data and a way to call ./run_all.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT.parent / "shared" / "data" / "mini"


def run_all_command(out: Path, *args: str) -> list[str]:
    """./run_all.sh with every output folder under `out`."""
    return ["bash", str(ROOT / "run_all.sh"), "--figures-dir", str(out / "figures"), "--tables-dir",
            str(out / "tables"), "--runs-dir", str(out / "runs"), "--build-dir", str(out / "build"), *args]


def run_all(out: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ./run_all.sh to completion (30 min at most) and return its result."""
    return subprocess.run(run_all_command(out, *args), cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env=env)
