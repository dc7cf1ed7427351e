"""A lock per run-cache key: two processes sharing a run cache (workers on several machines, a notebook beside
run_all.sh) never train the same run at once, and a run whose trainer died is trained again by the next one.

The lock is a file beside the run's folder naming its holder (host, pid, time), written whole under another name
and then hard-linked into place: the link is atomic and fails when the lock exists (local file systems, NFS), so
no contender ever reads a half-written lock and takes it for a dead holder's. The holder touches it every
`HEARTBEAT_S` seconds from a background thread, so a lock is *stale* when its holder is a dead process on this
host, or when it has not been touched for `STALE_AFTER_S` seconds (a holder on another machine that died or lost
the shared folder). A stale lock is taken over; a live one is waited for, and the waiter then loads the finished
run from the cache.

Not the `filelock` package: its FileLock (flock) is unreliable between NFS hosts; its SoftFileLease (a heartbeat,
filelock >= 3.30) would serve, for a new dependency whose newest releases need Python 3.11.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_SUFFIX = ".lock"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0  # 12 missed heartbeats: a stalled shared folder, not a slow epoch, makes a lock stale
POLL_S = 1.0


def lock_path(folder: Path) -> Path:
    """The lock file of a run folder: beside it, so listing the cache shows what is being trained."""
    return folder.with_name(folder.name + LOCK_SUFFIX)


def holder() -> dict:
    """Who this process is, as written into its locks."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}


def _read(path: Path) -> dict | None:
    """The lock's holder, or None when the file is gone; an unreadable file counts as a dead holder."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(path: Path, *, now: float | None = None) -> bool:
    """Whether the lock at `path` belongs to nobody alive (see the module docstring)."""
    info = _read(path)
    if info is None:
        return False  # gone: not stale, just free
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_AFTER_S:
        return True
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not _pid_alive(info["pid"])
    return not info  # unreadable: a holder killed while writing it


def try_lock(path: Path) -> bool:
    """Create the lock file if nobody holds it; True when this process now holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    whole = path.with_name(f"{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    whole.write_text(json.dumps(holder()), encoding="utf-8")
    try:
        os.link(whole, path)
    except FileExistsError:
        return False
    finally:
        whole.unlink(missing_ok=True)
    return True


def _break_stale(path: Path) -> None:
    """Remove a stale lock so that try_lock can race for it: O_EXCL lets exactly one waiter win."""
    stale = path.with_name(f"{path.name}.stale-{os.getpid()}")
    try:
        os.replace(path, stale)  # rename, then check: never delete a lock renewed in between by a live holder
    except FileNotFoundError:
        return
    if not is_stale(stale):  # it was renewed (or re-created) just before the rename: give it back
        with contextlib.suppress(OSError):
            os.link(stale, path)
    stale.unlink(missing_ok=True)


class _Heartbeat(threading.Thread):
    """Touches the lock file until stopped, so other hosts see its holder is alive."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True, name=f"run-lock-heartbeat {path.name}")
        self.path = path
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)


@contextlib.contextmanager
def locked(
    folder: Path,
    *,
    done: Callable[[], bool],
    on_wait: Callable[[dict], None] | None = None,
) -> Iterator[bool]:
    """Hold the lock of run `folder` while the block trains it; yields False if `done()` became true meanwhile.

    `done` says whether the run is in the cache (another process finished it while we waited): then the block
    should load it instead of training. `on_wait` is called once with the holder when we have to wait.
    """
    path = lock_path(folder)
    told = False
    while not try_lock(path):
        if done():
            yield False
            return
        if is_stale(path):
            _break_stale(path)
            continue
        if on_wait is not None and not told:
            on_wait(_read(path) or {})
            told = True
        time.sleep(POLL_S)
    beat = _Heartbeat(path)
    beat.start()
    try:
        yield not done()  # finished by someone else between our last look and the lock: nothing to train
    finally:
        beat.stopped.set()
        beat.join()
        path.unlink(missing_ok=True)
