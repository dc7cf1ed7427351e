"""One rule for every relative folder: taken from where the command was typed (LAB_CALLER_DIR), also inside a
kernel whose working directory is notebooks/ — from the CLI, an environment variable or a notebook parameter."""

from __future__ import annotations

import os
from pathlib import Path

import papermill
import pytest

from lab_utils import Lab, paths
from lab_utils.run.runner import NOTEBOOKS_DIR

from .helpers import MINI, ROOT


def test_relative_paths_start_at_the_callers_directory_not_the_kernels(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_CALLER_DIR", str(tmp_path))
    monkeypatch.chdir(NOTEBOOKS_DIR)  # where JupyterLab and papermill run the kernel
    monkeypatch.setenv("LAB_DATA_DIR", "data")
    monkeypatch.setenv("LAB_RUNS_DIR", "cache")
    assert paths.resolve("out") == tmp_path / "out"
    assert paths.data_dir_from_env() == tmp_path / "data" and paths.runs_dir() == tmp_path / "cache"
    lab = Lab("smoke", data_dir="data", figures_dir="figs", tables_dir="~/t")
    assert (lab.data_dir, lab.figures_dir, lab.runs_dir) == (tmp_path / "data", tmp_path / "figs", tmp_path / "cache")
    assert lab.tables_dir == Path("~/t").expanduser()


def test_without_a_caller_relative_paths_start_at_the_project(monkeypatch) -> None:
    monkeypatch.delenv("LAB_CALLER_DIR", raising=False)
    monkeypatch.chdir(NOTEBOOKS_DIR)
    assert paths.resolve("figures") == ROOT / "figures"
    assert Lab("smoke").figures_dir == ROOT / "figures"


@pytest.mark.e2e
def test_the_readme_data_dir_example_works_in_a_kernel_started_in_notebooks(tmp_path: Path) -> None:
    """`LAB_DATA_DIR=../shared/data/mini scripts/jupyterlab.sh`, typed in the project root: the kernel runs in
    notebooks/, where that relative path would name nothing."""
    env = {"LAB_CALLER_DIR": str(ROOT), "LAB_DATA_DIR": "../shared/data/mini"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment papermill runs in
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / "00_data_exploration.ipynb"),
            str(tmp_path / "00.ipynb"),
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
            parameters={"profile": "smoke", "figures_dir": str(tmp_path / "figures")},
        )
    finally:
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    assert (tmp_path / "figures" / "fig03_cifar10_samples.png").is_file()


@pytest.mark.e2e
def test_run_all_takes_relative_options_and_variables_from_where_it_was_typed(tmp_path: Path) -> None:
    """From another directory: --figures-dir and LAB_DATA_DIR are both relative to the shell's directory."""
    shell_dir = tmp_path / "elsewhere"
    shell_dir.mkdir()
    (shell_dir / "data").symlink_to(MINI.resolve())
    env = {**os.environ, "LAB_DATA_DIR": "data"}
    env.pop("LAB_CALLER_DIR", None)
    import subprocess

    result = subprocess.run(
        [
            "bash",
            str(ROOT / "run_all.sh"),
            "--profile",
            "smoke",
            "--only",
            "00",
            "--no-html",
            "--figures-dir",
            "figs",
            "--tables-dir",
            "tabs",
            "--build-dir",
            "build",
            "--runs-dir",
            "runs",
        ],
        cwd=shell_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (shell_dir / "figs" / "fig01_mnist_samples.png").is_file()
    assert (shell_dir / "build" / "00_data_exploration.ipynb").is_file()


def test_installed_outside_a_checkout_outputs_go_under_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    """A wheel install puts lab_utils in site-packages: runs and figures must land where the user works."""
    monkeypatch.setattr(paths, "CHECKOUT_ROOT", None)
    for name in ("LAB_HOME", "LAB_CALLER_DIR", "LAB_RUNS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.output_dir("figures") == tmp_path / "figures" and paths.runs_dir() == tmp_path / "runs"
    assert paths.resolve("data") == tmp_path / "data"
    monkeypatch.setenv("LAB_HOME", "~/lab")
    assert paths.output_dir("tables") == Path("~/lab/tables").expanduser() and paths.runs_dir().parent.name == "lab"


def test_a_checkout_is_recognised_and_keeps_the_project_root(monkeypatch) -> None:
    monkeypatch.delenv("LAB_HOME", raising=False)
    assert ROOT.resolve() == paths.CHECKOUT_ROOT and paths.output_dir("build") == ROOT.resolve() / "build"
    assert not paths._is_checkout(Path(papermill.__file__).parent.parent)  # site-packages is not one


def test_shown_paths_are_relative_to_the_caller_and_urls_are_left_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAB_CALLER_DIR", str(tmp_path / "here"))
    assert paths.display_path(tmp_path / "here" / "figures" / "a.png") == "figures/a.png"
    assert paths.display_path(tmp_path / "data") == "../data"
    text = f"mnist from {tmp_path}/data/mnist (Keras cache of https://example.org/a/b.npz), 600 images/s"
    assert (
        paths.display_text(text)
        == "mnist from ../data/mnist (Keras cache of https://example.org/a/b.npz), 600 images/s"
    )
