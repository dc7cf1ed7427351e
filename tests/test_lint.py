"""ruff keeps the tree's lint and format: the settings are pyproject.toml's [tool.ruff] (a few seconds)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .helpers import ROOT

FIX = {"check": "fix with `.venv/bin/ruff check --fix` or by hand", "format": "run `.venv/bin/ruff format`"}


@pytest.mark.parametrize(
    "command", [["check", "--output-format", "concise"], ["format", "--check"]], ids=["check", "format"]
)
def test_ruff_finds_nothing(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "No module named ruff" not in result.stderr, "ruff is missing: pip install -e '.[test]'"
    assert result.returncode == 0, f"ruff {' '.join(command)}: {FIX[command[0]]}\n{result.stdout[-6000:]}"
