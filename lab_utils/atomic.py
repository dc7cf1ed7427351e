"""Atomic writes: a reader (or a killed run) never sees a half-written figure, table or record."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_ASIDE = ".old.tmp"  # suffix of a replaced folder moved aside (see atomic_dir), restored if left alone


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary file lives in the same folder so the final `os.replace` is atomic on POSIX, and it keeps
    the target's suffix because writers such as matplotlib and h5py pick the format from it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` only if the block succeeds.

    The old folder is deleted only after the new one is in place, so a kill at any moment leaves a complete
    run: on Linux the two are swapped in one step (renameat2 RENAME_EXCHANGE); elsewhere the old folder is
    first renamed aside, and `remove_stale_temporaries` renames it back if the process died in between.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700 folders
        if not target.exists() and not target.is_symlink():
            os.replace(tmp, target)
        elif not _exchange(tmp, target):  # if swapped, tmp holds the old folder and `finally` deletes it
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=_ASIDE, dir=target.parent))
            os.replace(target, aside)  # rename(2) lets a folder replace an empty folder
            os.replace(tmp, target)
            shutil.rmtree(aside)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the C library or the filesystem cannot (then nothing moved)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, TypeError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files/folders an atomic write left behind when its process was killed.

    Only names this module makes (".NAME.XXXX.tmp…") are touched. A folder that `atomic_dir` had moved aside
    when its process died before the new one took its place is renamed back to NAME instead (and not listed),
    so a kill never costs a finished run. Call it before a run starts writing into `folder`, never while
    another process may be writing there.
    """
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for aside in root.glob(f".*{_ASIDE}"):
        original = root / aside.name[1 : -len(_ASIDE)].rsplit(".", 1)[0]
        if aside.is_dir() and not original.exists() and not original.is_symlink():
            os.replace(aside, original)
    for path in root.glob(".*.tmp*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _umask() -> int:
    """The process umask (reading it requires setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
