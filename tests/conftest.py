"""Shared fixtures (the real mini data, one smoke run of run_all.sh that several test files inspect) and the `e2e`
marker that splits the suite: `./run_tests.sh --fast` runs `-m "not e2e"`, the inner loop of a few minutes.

A test is e2e when it runs papermill, a browser, a second Keras backend, or run_all.sh / run_tests.sh / pip install
in a subprocess. Every test that uses the `smoke` fixture is marked here; the others carry the marker themselves.
An unmarked test that starts such a run fails and says so, so the fast subset cannot grow slow unnoticed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .helpers import MINI, run_all, smoke_options

E2E = (
    "e2e: an end-to-end run (papermill, a browser, a second Keras backend, or run_all.sh / run_tests.sh / "
    "pip install in a subprocess); `./run_tests.sh --fast` leaves these out"
)
E2E_FIXTURES = {"smoke"}  # fixtures that run run_all.sh: a test that uses one is end to end


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", E2E)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def end_to_end_command(args: object, env: dict | None) -> str | None:
    """What makes a subprocess an end-to-end run (see E2E), or None."""
    words = [os.fsdecode(a) for a in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
    text = " ".join(words)
    for script in ("run_all.sh", "run_tests.sh"):
        if script in text:
            return script
    if "install" in words and any(Path(word).name in ("pip", "pip3") for word in words):
        return "pip install"
    backend = (env or {}).get("KERAS_BACKEND")
    if backend and backend != os.environ.get("KERAS_BACKEND", "tensorflow"):
        return f"KERAS_BACKEND={backend}"
    return None


def _refuse(what: str) -> None:
    pytest.fail(
        f"{what}: an end-to-end run in a test not marked e2e. Add @pytest.mark.e2e (see tests/conftest.py) "
        "so that `./run_tests.sh --fast` leaves it out",
        pytrace=False,
    )


class _FastPopen(subprocess.Popen):
    """subprocess.Popen that refuses end-to-end commands (tests not marked e2e)."""

    def __init__(self, args, *rest, **kwargs) -> None:
        if what := end_to_end_command(args, kwargs.get("env")):
            _refuse(f"subprocess {what}")
        super().__init__(args, *rest, **kwargs)


@pytest.fixture(autouse=True)
def _fast_tests_stay_fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a test not marked e2e, papermill and end-to-end subprocesses fail the test with the fix."""
    if request.node.get_closest_marker("e2e"):
        return
    monkeypatch.setattr(subprocess, "Popen", _FastPopen)
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: _refuse("papermill.execute_notebook"))


@pytest.fixture(scope="session")
def mini() -> Path:
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    return MINI


@pytest.fixture(scope="session")
def smoke(tmp_path_factory, mini: Path) -> Path:
    """One complete `./run_all.sh --profile smoke --workers 2` on the mini data; returns its output folder. Read-only
    for the tests that use it: a test that runs again writes into a folder of its own.

    LAB_TEST_SMOKE=/some/folder keeps that run: made there once, then reused (for iterating on the tests that read
    it; delete the folder after changing what the run produces)."""
    kept = os.environ.get("LAB_TEST_SMOKE")
    out = Path(kept) if kept else tmp_path_factory.mktemp("smoke")
    if kept and (out / "run_all.stdout").is_file():
        return out
    # On 2 workers: every catalogued run is trained first, then the notebooks load them (their hand-written models
    # equal the builders'); LAB_STRICT_CHECKS=1: an exercise solution that stopped being right fails the run.
    result = run_all(out, *smoke_options(mini, "--workers", "2"), env={**os.environ, "LAB_STRICT_CHECKS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (out / "run_all.stderr").write_text(result.stderr)  # kept for the tests of what run_all prints
    (out / "run_all.stdout").write_text(result.stdout)  # last: it marks a complete run
    return out
