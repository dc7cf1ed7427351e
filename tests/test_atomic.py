"""atomic_dir replaces a finished run without a moment where no complete run exists: a process killed
(SIGKILL, no clean-up) after any single step leaves the old run or the new one, never a half or none."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab_utils import atomic
from lab_utils.atomic import atomic_dir, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[1]
OLD = {"record.json": "old record", "model.weights.h5": "old weights"}
NEW = {"record.json": "new record", "model.weights.h5": "new weights", "notes.txt": "new notes"}

# Replaces an old run by a new one, SIGKILLing itself right after step number `kill_at`: each file written,
# each rename or swap, each file or folder deleted. `aside` forces the fallback for systems without
# renameat2's exchange. Imports only lab_utils.atomic (lab_utils/__init__ would import Keras).
_CHILD = r"""
import os, shutil, signal, sys, types
from pathlib import Path
root, target, mode, kill_at = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
pkg = types.ModuleType("lab_utils"); pkg.__path__ = [root + "/lab_utils"]; sys.modules["lab_utils"] = pkg
from lab_utils import atomic
steps = 0
def step(result=None):
    global steps
    steps += 1
    if steps == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
def after(fn):
    return lambda *args, **kwargs: step(fn(*args, **kwargs))
os.replace, os.unlink, os.rmdir = after(os.replace), after(os.unlink), after(os.rmdir)
exchange = atomic._exchange
atomic._exchange = (lambda a, b: False) if mode == "aside" else (lambda a, b: step(exchange(a, b)))
with atomic.atomic_dir(target) as tmp:
    for name, text in NEW.items():
        (tmp / name).write_text(text)
        step()
print("steps", steps)
"""


def _run(target: Path, mode: str, kill_at: int) -> subprocess.CompletedProcess:
    script = f"NEW = {NEW!r}\n" + _CHILD
    return subprocess.run(
        [sys.executable, "-c", script, str(ROOT), str(target), mode, str(kill_at)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _contents(folder: Path) -> dict[str, str] | None:
    return {p.name: p.read_text() for p in folder.iterdir()} if folder.is_dir() else None


@pytest.mark.parametrize("mode", ["exchange", "aside"])
def test_a_kill_after_any_step_leaves_the_old_run_or_the_new_one(mode: str, tmp_path: Path) -> None:
    if mode == "exchange" and not _can_exchange(tmp_path):
        pytest.skip("this filesystem or C library cannot swap two paths (renameat2 RENAME_EXCHANGE)")
    outcomes = []
    for kill_at in range(1, 50):
        runs = tmp_path / f"kill-{kill_at}"
        target = runs / "run-abc"
        target.mkdir(parents=True)
        for name, text in OLD.items():
            (target / name).write_text(text)
        result = _run(target, mode, kill_at)
        killed = result.returncode == -signal.SIGKILL
        assert killed or result.returncode == 0, result.stderr
        if mode == "exchange":  # one atomic swap: a complete run is in place at every moment
            assert _contents(target) in (OLD, NEW), kill_at
        remove_stale_temporaries(runs)  # what the next run_all.sh does first
        outcomes.append("old" if _contents(target) == OLD else "new" if _contents(target) == NEW else "broken")
        assert [p.name for p in runs.iterdir()] == ["run-abc"], kill_at  # no temporaries left behind
        if not killed:
            break
    assert "broken" not in outcomes and outcomes[0] == "old" and outcomes[-1] == "new", outcomes
    assert outcomes.count("old") >= len(NEW), outcomes  # killed while writing: the old run stays


def _can_exchange(tmp_path: Path) -> bool:
    a, b = tmp_path / "swap-a", tmp_path / "swap-b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    swapped = atomic._exchange(a, b)
    assert not swapped or (b / "x").read_text() == "a"
    return swapped


def test_a_failed_block_keeps_the_old_run_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "record.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "record.json").write_text("new")
        raise RuntimeError("training crashed")
    assert _contents(target) == {"record.json": "old"} and [p.name for p in tmp_path.iterdir()] == ["run"]
    with atomic_dir(tmp_path / "fresh") as tmp:  # no old run: a plain rename
        (tmp / "record.json").write_text("new")
    assert _contents(tmp_path / "fresh") == {"record.json": "new"}
