"""Where things live: the project folders and the Keras cache, each overridable by an environment variable.

In a checkout (lab_utils imported from the repository, editable or via PYTHONPATH) outputs go under the project
root, as always. Installed from a wheel, the package sits in site-packages, which is no place for runs or figures:
outputs then go under the current directory, or under `LAB_HOME` when it is set (it wins in a checkout too).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lab_utils import settings

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _is_checkout(root: Path) -> bool:
    """A source tree has pyproject.toml and notebooks/ beside lab_utils/; site-packages has neither."""
    return (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir()


CHECKOUT_ROOT: Path | None = _PACKAGE_PARENT if _is_checkout(_PACKAGE_PARENT) else None
# The repository in a checkout; installed, the directory Python started in (notebooks/ is looked for there).
PROJECT_ROOT = CHECKOUT_ROOT or Path.cwd().resolve()


def output_root() -> Path:
    """Where runs/, figures/, tables/ and build/ go by default: `LAB_HOME`, else the checkout, else the current
    directory — never inside the installed package."""
    value = settings.text("LAB_HOME")
    if value:
        return Path(value).expanduser().resolve()
    return CHECKOUT_ROOT or Path.cwd().resolve()


def output_dir(name: str) -> Path:
    """The default folder for one kind of output ("figures", "tables", "runs", "build")."""
    return output_root() / name


def caller_dir() -> Path:
    """The directory where the user typed the command: run_all.sh and jupyterlab.sh export it as LAB_CALLER_DIR,
    so a kernel (whose own working directory is notebooks/) resolves relative paths as the shell did.
    Without it (a kernel started some other way) relative paths are taken from the checkout, or, installed, from
    the current directory."""
    value = settings.text("LAB_CALLER_DIR")
    return Path(value) if value else (CHECKOUT_ROOT or Path.cwd().resolve())


def resolve(value: str | os.PathLike) -> Path:
    """The one rule for every folder setting (CLI option, environment variable, notebook parameter): `~` is
    expanded and a relative path is taken from `caller_dir()`."""
    path = Path(value).expanduser()
    return (path if path.is_absolute() else caller_dir() / path).resolve()


def display_path(path: str | os.PathLike) -> str:
    """A path as tables and pages show it: relative to where the command ran (`caller_dir()`), so a shared table
    or site does not carry the author's home folder layout. POSIX separators on every system."""
    path = Path(path).expanduser()
    if not path.is_absolute():
        return path.as_posix()
    try:
        return Path(os.path.relpath(path, caller_dir())).as_posix()
    except ValueError:  # another drive on Windows: no relative form exists; the name alone is still honest
        return path.name


# An absolute POSIX path in free text: starts at a "/" that follows no word character, "/", ":", "~" or ".",
# so URLs ("https://…"), rates ("images/s") and relative paths are left alone.
_ABSOLUTE = re.compile(r"(?<![\w/:~.\-])/(?:[\w.+@\-]+/)*[\w.+@\-]+/?")


def display_text(text: str) -> str:
    """Every absolute path in `text` whose first folder exists on this machine (/home, /work, /tmp…) rewritten by
    `display_path`: for notebook outputs and table footers that print paths."""

    def relative(match: re.Match[str]) -> str:
        found = match.group(0)
        first = found.strip("/").split("/", 1)[0]
        return display_path(found) if first and Path("/", first).exists() else found

    return _ABSOLUTE.sub(relative, text)


def keras_home() -> Path:
    """The Keras cache root, honouring `KERAS_HOME` exactly as Keras itself does (default `~/.keras`)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def data_dir_from_env() -> Path | None:
    """The folder named by `LAB_DATA_DIR`, if set: per-dataset subfolders in the official formats."""
    value = settings.text("LAB_DATA_DIR")
    return resolve(value) if value else None


def runs_dir() -> Path:
    """The run cache (records + weights); `LAB_RUNS_DIR` moves it, e.g. to a faster disk."""
    value = settings.text("LAB_RUNS_DIR")
    return resolve(value) if value else output_dir("runs")
