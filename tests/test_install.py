"""The package as a student gets it: a wheel installed (not editable) into a fresh environment, no checkout.

The wheel is built from a copy of the sources, installed into a new venv (no system site-packages, no PYTHONPATH:
the checkout cannot leak in), one notebook is copied into an empty folder and run there with papermill under
`smoke`. Its figures must be in that folder and nothing new may appear in site-packages (before the fix, runs/
figures/ tables/ went there). `floors` installs the oldest TensorFlow and Keras that pyproject.toml allows, so CI
runs a notebook on the versions the README promises. pip's cache makes the second install of TensorFlow a copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .helpers import MINI, ROOT

pytestmark = pytest.mark.e2e

# The cheapest notebook (loads both datasets, draws Figs. 1–3); on the floors also 01, which trains two models.
NOTEBOOKS = {"newest": ("00_data_exploration",), "floors": ("00_data_exploration", "01_mnist_cnn")}
FIGURES = {"00_data_exploration": ("fig01_mnist_samples", "fig02_mnist_class_distribution", "fig03_cifar10_samples"),
           "01_mnist_cnn": ("fig04_mnist_cnn_architecture",)}
INSTALL_S = 1200  # a cold pip cache downloads TensorFlow (~600 MB)
RUN_S = 600


def floor_pins() -> list[str]:
    """`tensorflow==X` and `keras==Y` for the `>=` floors that pyproject.toml declares."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = []
    for dep in deps:
        match = re.fullmatch(r"(tensorflow|keras)>=([\w.]+).*", dep.replace(" ", ""))
        if match:
            pins.append(f"{match[1]}=={match[2]}")
    assert len(pins) == 2, deps
    return pins


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points at this checkout or a user's Jupyter set-up."""
    drop = ("PYTHONPATH", "LAB_CALLER_DIR", "LAB_HOME", "LAB_RUNS_DIR", "LAB_DATA_DIR", "VIRTUAL_ENV", "JUPYTER_PATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, **extra}


def build_wheel(dist: Path, tmp: Path) -> Path:
    """The wheel, built from a copy of the sources (a build inside the checkout would write build/ there)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lab_utils", src / "lab_utils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = dist.glob("lab_utils-*.whl")
    return wheel


def site_files(venv: Path) -> set[str]:
    """Every file in the venv's site-packages except byte code (importing compiles what pip did not)."""
    (site,) = venv.glob("lib/python*/site-packages")
    return {str(p.relative_to(site)) for p in site.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.mark.parametrize("versions", ["newest", "floors"])
def test_a_wheel_installed_in_a_fresh_venv_runs_a_notebook_in_an_empty_folder(tmp_path: Path, versions: str) -> None:
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    wheel = build_wheel(tmp_path / "dist", tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pins = floor_pins() if versions == "floors" else []
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[notebooks]", *pins],
                             capture_output=True, text=True, timeout=INSTALL_S, env=clean_env())
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "work"  # what a student has: the notebook in an otherwise empty folder
    work.mkdir()
    for name in NOTEBOOKS[versions]:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", work / f"{name}.ipynb")
    before = site_files(venv)
    env = clean_env(KERAS_HOME=str(tmp_path / "keras"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter"),
                    TF_CPP_MIN_LOG_LEVEL="2")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import lab_utils, keras, tensorflow as tf; "
                            "print(lab_utils.__file__, keras.__version__, tf.__version__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0 and "site-packages" in where.stdout, where.stdout + where.stderr
    if versions == "floors":
        assert [f"{n}=={v}" for n, v in zip(("keras", "tensorflow"), where.stdout.split()[1:])] == sorted(pins)
    print(f"installed: {where.stdout.strip()}")
    for name in NOTEBOOKS[versions]:
        run = subprocess.run([str(venv / "bin" / "papermill"), f"{name}.ipynb", f"{name}.out.ipynb", "-k", "python3",
                              "--no-progress-bar", "-p", "profile", "smoke", "-p", "data_dir", str(MINI.resolve())],
                             cwd=work, env=env, capture_output=True, text=True, timeout=RUN_S)
        assert run.returncode == 0, run.stderr[-3000:]
        for figure in FIGURES[name]:
            assert (work / "figures" / f"{figure}.png").stat().st_size > 1000, figure
    if "01_mnist_cnn" in NOTEBOOKS[versions]:  # trained: its run cache and accuracy table are here too
        assert any((work / "runs").rglob("*.json")) and any((work / "tables").glob("*.md"))
    assert site_files(venv) == before
    (site,) = venv.glob("lib/python*/site-packages")
    assert not any((site / name).exists() for name in ("figures", "tables", "runs", "build"))
