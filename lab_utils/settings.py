"""Every `LAB_*` environment variable, declared once with its default and what it does.

lab_utils reads them only through this module (tests/test_settings.py holds that): `text`, `flag` and `integer`
read one (the folders through lab_utils.paths), `export` and `export_default` set one for the processes started
later (notebook kernels, worker processes). A name not in `SETTINGS` is an error, so a typo fails loudly.
The table in docs/usage.md is generated from `SETTINGS`: `python -m lab_utils.settings` prints it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from lab_utils.errors import ConfigError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_BOOT = "scripts/bootstrap.sh"


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default as the environment would spell it, a line of doc."""

    name: str
    default: str  # "" means unset
    doc: str
    read_by: str = "lab_utils"  # or the script that reads it, for the variables only the shell sees


SETTINGS: tuple[Setting, ...] = (
    # Folders; a relative path is taken from LAB_CALLER_DIR (lab_utils.paths.resolve).
    Setting("LAB_HOME", "", "where runs/, figures/, tables/, build/ go; unset: the checkout, else the current folder"),
    Setting("LAB_DATA_DIR", "", "a folder of mnist/, fashion_mnist/, cifar10/ in the official formats, tried first"),
    Setting("LAB_RUNS_DIR", "", "the run cache (records and weights); unset: runs/ under LAB_HOME or the checkout"),
    Setting("LAB_RUNS_ARCHIVE", "", "a teacher's packed run cache (.zip), unpacked into the run cache as a Lab starts"),
    Setting("LAB_CALLER_DIR", "", "where relative paths start: run_all.sh and jupyterlab.sh set it to where they ran"),
    # Training.
    Setting("LAB_FIT_VERBOSE", "1", "Keras fit verbosity: 1 a live bar per epoch, 2 a line per epoch (run_all.sh)"),
    Setting("LAB_DATA_PARALLEL", "0", "1: each batch split over all GPUs or virtual CPUs (run_all.sh --data-parallel)"),
    Setting("LAB_WORKER_CPUS", "", "the cores a local worker is pinned to, e.g. 0,1 (set per worker by --workers)"),
    # The report and the exercises.
    Setting("LAB_COMMIT", "", "the git commit the report names when its tree has no .git (an exported copy)"),
    Setting("LAB_STRICT_CHECKS", "0", "1: a wrong exercise answer raises instead of printing ✗ (the tests set it)"),
    # Read by the scripts and tests only.
    Setting("LAB_DEVICE", "", "cpu or gpu: the backends' build .venv gets; unset: gpu if nvidia-smi lists one", _BOOT),
    Setting("LAB_PYTHON", "", "a Python environment you manage, used as it is (nothing is installed)", _BOOT),
    Setting("LAB_BOOTSTRAP_DRY_RUN", "", "tests: print the pip command, install nothing", _BOOT),
    Setting("LAB_TEST_SMOKE", "", "tests: keep the smoke run in this folder and reuse it", "tests/conftest.py"),
    Setting("LAB_FULL_JAX_SMOKE", "", "tests: 1 runs every notebook under JAX, not three", "tests/test_jax_smoke.py"),
)
_BY_NAME = {setting.name: setting for setting in SETTINGS}


def setting(name: str) -> Setting:
    """The declaration of `name`; ConfigError for a name that is not declared."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(
            f"unknown setting {name!r}: declare it in lab_utils/settings.py (known: {', '.join(_BY_NAME)})"
        ) from None


def text(name: str) -> str:
    """The variable's value, or its default when unset."""
    return os.environ.get(name, setting(name).default)


def flag(name: str) -> bool:
    """A switch: 1/true/yes/on, or 0/false/no/off/empty; any other value is refused with the variable's name."""
    value = text(name).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={text(name)!r} is not a switch: use 1 or 0")


def integer(name: str) -> int:
    """A whole number; empty counts as the default."""
    value = text(name).strip() or setting(name).default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number (default {setting(name).default})") from None


def export(name: str, value: str) -> None:
    """Set `name` in this process, for the processes it starts next (kernels, workers) to inherit."""
    os.environ[setting(name).name] = value


def export_default(name: str, value: str) -> None:
    """Set `name` unless the user already did (an explicit setting wins)."""
    os.environ.setdefault(setting(name).name, value)


def markdown_table() -> str:
    """The table of docs/usage.md: every variable, its default, who reads it and what it does."""
    rows = ["| variable | default | read by | what it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | {f'`{s.default}`' if s.default else 'unset'} | {s.read_by} | {s.doc} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m lab_utils.settings`: print docs/usage.md's table of the variables."""
    import argparse

    argparse.ArgumentParser(prog="python -m lab_utils.settings", description=main.__doc__).parse_args(argv)
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
