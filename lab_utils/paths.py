"""Where things live: the project folders and the Keras cache, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def caller_dir() -> Path:
    """The directory where the user typed the command: run_all.sh and jupyterlab.sh export it as LAB_CALLER_DIR,
    so a kernel (whose own working directory is notebooks/) resolves relative paths as the shell did.
    Without it (a kernel started some other way) relative paths are taken from the project root."""
    value = os.environ.get("LAB_CALLER_DIR")
    return Path(value) if value else PROJECT_ROOT


def resolve(value: str | os.PathLike) -> Path:
    """The one rule for every folder setting (CLI option, environment variable, notebook parameter): `~` is
    expanded and a relative path is taken from `caller_dir()`."""
    path = Path(value).expanduser()
    return (path if path.is_absolute() else caller_dir() / path).resolve()


def keras_home() -> Path:
    """The Keras cache root, honouring `KERAS_HOME` exactly as Keras itself does (default `~/.keras`)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def data_dir_from_env() -> Path | None:
    """The folder named by `LAB_DATA_DIR`, if set: per-dataset subfolders in the official formats."""
    value = os.environ.get("LAB_DATA_DIR")
    return resolve(value) if value else None


def runs_dir() -> Path:
    """The run cache (records + weights); `LAB_RUNS_DIR` moves it, e.g. to a faster disk."""
    value = os.environ.get("LAB_RUNS_DIR")
    return resolve(value) if value else PROJECT_ROOT / "runs"
