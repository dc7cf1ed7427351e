"""Locks on run-cache keys: one trainer per run across processes, and a dead trainer's lock is taken over."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_utils.training import run_lock


def _lock_and_count(folder: str, counter: str, barrier) -> None:
    """A contender: wait for the others, then 'train' (append a line) only while holding the lock."""
    barrier.wait()
    with run_lock.locked(Path(folder), done=lambda: (Path(folder) / "done").exists()) as must_train:
        if must_train:
            with open(counter, "a") as file:
                file.write(f"{os.getpid()}\n")
            time.sleep(0.5)  # long enough for every other contender to find the lock taken
            (Path(folder)).mkdir(exist_ok=True)
            (Path(folder) / "done").write_text("ok")


def test_of_four_processes_racing_for_one_run_exactly_one_trains_it(tmp_path: Path, monkeypatch) -> None:
    folder, counter = tmp_path / "cifar_vgg-abc", tmp_path / "trained.txt"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_lock_and_count, args=(str(folder), str(counter), barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert len(counter.read_text().split()) == 1
    assert not run_lock.lock_path(folder).exists()  # released


def test_a_lock_of_a_dead_process_is_stale_and_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = tmp_path / "mnist_cnn-123"
    path = run_lock.lock_path(folder)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "since": 0}))
    assert run_lock.is_stale(path)
    with run_lock.locked(folder, done=lambda: False) as must_train:
        assert must_train
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


def test_a_live_lock_is_waited_for_and_the_finished_run_loaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(run_lock, "POLL_S", 0.05)
    folder = tmp_path / "mnist_mlp-1"
    path = run_lock.lock_path(folder)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "since": 0}))  # alive
    assert not run_lock.is_stale(path)
    polls, waited = [], []

    def done() -> bool:
        polls.append(1)
        return len(polls) > 3  # the other process finishes after a few polls

    with run_lock.locked(folder, done=done, on_wait=waited.append) as must_train:
        assert must_train is False
    assert len(waited) == 1 and waited[0]["pid"] == os.getppid()
    assert path.exists()  # not ours: left alone


def test_a_lock_from_another_host_goes_stale_only_when_its_heartbeat_stops(tmp_path: Path) -> None:
    path = run_lock.lock_path(tmp_path / "run-1")
    path.write_text(json.dumps({"host": "another-node", "pid": 1, "since": 0}))
    assert not run_lock.is_stale(path)
    old = time.time() - run_lock.STALE_AFTER_S - 5
    os.utime(path, (old, old))
    assert run_lock.is_stale(path)


def test_the_heartbeat_keeps_a_long_lock_fresh(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(run_lock, "HEARTBEAT_S", 0.05)
    folder = tmp_path / "run-2"
    with run_lock.locked(folder, done=lambda: False):
        path = run_lock.lock_path(folder)
        old = time.time() - 1000
        os.utime(path, (old, old))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 5


@pytest.mark.parametrize("content", ["", "{not json"])
def test_an_unreadable_lock_counts_as_a_dead_holder(tmp_path: Path, content: str) -> None:
    path = run_lock.lock_path(tmp_path / "run-3")
    path.write_text(content)
    assert run_lock.is_stale(path)
