"""Shared fixtures: the real mini data, and one smoke run of run_all.sh that several test files inspect."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import MINI, run_all


@pytest.fixture(scope="session")
def mini() -> Path:
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    return MINI


@pytest.fixture(scope="session")
def smoke(tmp_path_factory, mini: Path) -> Path:
    """One complete `./run_all.sh --profile smoke` on the mini data; returns its output folder."""
    out = tmp_path_factory.mktemp("smoke")
    result = run_all(out, "--profile", "smoke", "--data-dir", str(mini))
    (out / "run_all.stdout").write_text(result.stdout)  # kept for the tests of what run_all prints
    (out / "run_all.stderr").write_text(result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out
