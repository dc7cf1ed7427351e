"""Where things live: the project folders and the Keras cache, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def keras_home() -> Path:
    """The Keras cache root, honouring `KERAS_HOME` exactly as Keras itself does (default `~/.keras`)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def data_dir_from_env() -> Path | None:
    """The folder named by `LAB_DATA_DIR`, if set: per-dataset subfolders in the official formats."""
    value = os.environ.get("LAB_DATA_DIR")
    return Path(value).expanduser() if value else None


def runs_dir() -> Path:
    """The run cache (records + weights); `LAB_RUNS_DIR` moves it, e.g. to a faster disk."""
    return Path(os.environ.get("LAB_RUNS_DIR") or PROJECT_ROOT / "runs").expanduser()
