"""The package as a student gets it: a wheel installed (not editable) into a fresh environment, no checkout.

The wheel is built from a copy of the sources, installed into a new venv (no system site-packages, no PYTHONPATH:
the checkout cannot leak in), notebooks are copied into an empty folder and run there with papermill under
`smoke`. Their figures and tables must be in that folder and nothing new may appear in site-packages (before the
fix, runs/ figures/ tables/ went there). `newest` runs notebook 00 on the newest releases. `floors` installs the
oldest TensorFlow, Keras and JAX that pyproject.toml allows, runs 01 under KERAS_BACKEND=jax, then every notebook
in run_all.sh's order on TensorFlow (05 reads the runs of 01-04): CI runs the report on the versions the README
promises. pip's cache makes a repeated install a copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import tomllib

from lab_utils.report.outputs import ALL_FIGURES, TABLES, missing_outputs
from lab_utils.run.runner import NOTEBOOKS as ALL_NOTEBOOKS
from lab_utils.training.records import RECORD_FILE

from .helpers import MINI, ROOT

pytestmark = pytest.mark.e2e

# Newest: the cheapest notebook (loads both datasets, draws Figs. 1–3). Floors: all of them, and on JAX the notebook
# that trains (two MNIST models) and looks inside the trained CNN.
NOTEBOOKS = {"newest": ALL_NOTEBOOKS[:1], "floors": ALL_NOTEBOOKS}
JAX_NOTEBOOK = "01_mnist_cnn"
BACKEND_PACKAGES = ("tensorflow", "keras", "jax", "jaxlib")
INSTALL_S = 1200  # a cold pip cache downloads TensorFlow (~600 MB)
RUN_S = 600


def floor_pins() -> dict[str, str]:
    """{package: version} for the `>=` floors of TensorFlow and Keras (dependencies) and JAX (the test extra);
    jaxlib is pinned to JAX's version, as the floor was measured."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for dep in deps:
        match = re.fullmatch(r"(tensorflow|keras|jax)>=([\w.]+).*", dep.replace(" ", ""))
        if match:
            pins[match[1]] = match[2]
    assert sorted(pins) == ["jax", "keras", "tensorflow"], deps
    return {**pins, "jaxlib": pins["jax"]}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points at this checkout or a user's Jupyter set-up."""
    drop = (
        "PYTHONPATH",
        "LAB_CALLER_DIR",
        "LAB_HOME",
        "LAB_RUNS_DIR",
        "LAB_DATA_DIR",
        "VIRTUAL_ENV",
        "JUPYTER_PATH",
        "KERAS_BACKEND",
    )
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, **extra}


def build_wheel(dist: Path, tmp: Path) -> Path:
    """The wheel, built from a copy of the sources (a build inside the checkout would write build/ there)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lab_utils", src / "lab_utils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (wheel,) = dist.glob("cnn_keras_lab-*.whl")
    return wheel


def site_files(venv: Path) -> set[str]:
    """Every file in the venv's site-packages except byte code (importing compiles what pip did not)."""
    (site,) = venv.glob("lib/python*/site-packages")
    return {
        str(p.relative_to(site))
        for p in site.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def installed_versions(venv: Path, work: Path, env: dict[str, str]) -> dict[str, str | None]:
    """Where lab_utils was imported from, and the installed version of each backend package (None: absent)."""
    code = (
        "import importlib.metadata as m, json, sys, lab_utils\n"
        "def version(p):\n    try: return m.version(p)\n    except m.PackageNotFoundError: return None\n"
        "print(json.dumps({'lab_utils': lab_utils.__file__, **{p: version(p) for p in sys.argv[1:]}}))"
    )
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *BACKEND_PACKAGES],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.returncode == 0, where.stdout + where.stderr
    return json.loads(where.stdout)


def run_notebook(venv: Path, work: Path, name: str, env: dict[str, str]) -> float:
    """Run `name` under `smoke` in `work` with papermill, find its figures and tables there; the seconds it took."""
    start = time.monotonic()
    run = subprocess.run(
        [
            str(venv / "bin" / "papermill"),
            f"{name}.ipynb",
            f"{name}.out.ipynb",
            "-k",
            "python3",
            "--no-progress-bar",
            "-p",
            "profile",
            "smoke",
            "-p",
            "data_dir",
            str(MINI.resolve()),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )
    assert run.returncode == 0, f"{name}: {run.stderr[-3000:]}"
    for figure in (f for f in ALL_FIGURES if f.notebook == name):
        assert (work / "figures" / f"{figure.name}.png").stat().st_size > 1000, figure.name
    for table in (t for t in TABLES if t.notebook == name):
        assert (work / "tables" / f"{table.name}.md").is_file(), table.name
    return time.monotonic() - start


@pytest.mark.parametrize("versions", ["newest", "floors"])
def test_a_wheel_installed_in_a_fresh_venv_runs_notebooks_in_an_empty_folder(tmp_path: Path, versions: str) -> None:
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    wheel = build_wheel(tmp_path / "dist", tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pins = floor_pins() if versions == "floors" else {}
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"{wheel}[notebooks]",
            *(f"{name}=={version}" for name, version in pins.items()),
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_S,
        env=clean_env(),
    )
    errors = "\n".join(line for line in install.stderr.splitlines() if not line.startswith("WARNING"))
    assert install.returncode == 0, errors[-3000:]

    work = tmp_path / "work"  # what a student has: the notebooks in an otherwise empty folder
    work.mkdir()
    student = versions == "floors"  # there: the student versions, solutions folded away, as Colab opens them
    for name in NOTEBOOKS[versions]:
        shutil.copy(ROOT / "notebooks" / ("student" if student else "") / f"{name}.ipynb", work / f"{name}.ipynb")
    before = site_files(venv)
    env = clean_env(
        KERAS_HOME=str(tmp_path / "keras"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), TF_CPP_MIN_LOG_LEVEL="2"
    )
    installed = installed_versions(venv, work, env)
    assert "site-packages" in installed.pop("lab_utils"), installed
    if versions == "floors":
        assert installed == pins
    print(f"installed: {installed}")
    seconds = {}
    if versions == "floors":  # first: a JAX that Keras cannot import fails here in a minute, not after 00-05
        jax_work = tmp_path / "work_jax"  # its own run cache: the JAX runs train, none is loaded from TensorFlow's
        jax_work.mkdir()
        shutil.copy(ROOT / "notebooks" / f"{JAX_NOTEBOOK}.ipynb", jax_work / f"{JAX_NOTEBOOK}.ipynb")
        seconds[f"{JAX_NOTEBOOK} on jax"] = run_notebook(venv, jax_work, JAX_NOTEBOOK, {**env, "KERAS_BACKEND": "jax"})
        records = [json.loads(p.read_text()) for p in (jax_work / "runs").glob(f"*/{RECORD_FILE}")]
        assert len(records) == 2 and {r["backend"] for r in records} == {"jax"}, records
    seconds.update({name: run_notebook(venv, work, name, env) for name in NOTEBOOKS[versions]})
    if versions == "floors":
        assert missing_outputs(work / "figures", work / "tables") == []  # 05 found every output of 00-04
        for name in NOTEBOOKS[versions]:  # ran to the end, each exercise waiting for its answer
            done = nbformat.read(work / f"{name}.out.ipynb", as_version=4)
            said = [
                "".join(o.get("text", "") for o in c.outputs)
                for c in done.cells
                if "check" in c.metadata.get("tags", [])
            ]
            assert all("not answered yet" in text for text in said), (name, said)
    print("seconds per notebook:", {name: round(s) for name, s in seconds.items()})
    if "01_mnist_cnn" in NOTEBOOKS[versions]:  # trained: its run cache is here too
        assert any((work / "runs").rglob("*.json"))
    assert site_files(venv) == before
    (site,) = venv.glob("lib/python*/site-packages")
    assert not any((site / name).exists() for name in ("figures", "tables", "runs", "build"))
