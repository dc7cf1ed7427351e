"""The GPU machine without a GPU: bootstrap picks the CUDA builds when a driver lists a GPU, and `full` never
falls back to the CPU silently. A fake `nvidia-smi` on PATH stands in for the driver; bootstrap runs dry.
LAB_PYTHON: an environment someone else manages (conda, a cluster, an offline GPU machine), used as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import ROOT, call_runner, run_all

FAKE_SMI = "#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-00000000-0000-0000-0000-000000000000)'\n"


@pytest.fixture
def fake_driver(tmp_path: Path) -> str:
    """A PATH whose `nvidia-smi -L` lists one H100."""
    folder = tmp_path / "bin"
    folder.mkdir()
    smi = folder / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def dry_bootstrap(path: str, **env: str) -> subprocess.CompletedProcess:
    """scripts/bootstrap.sh with LAB_BOOTSTRAP_DRY_RUN: prints the pip command, installs nothing."""
    environment = {k: v for k, v in os.environ.items() if k != "LAB_DEVICE"}
    environment.update(PATH=path, LAB_BOOTSTRAP_DRY_RUN="1", **env)
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")], capture_output=True, text=True, env=environment, timeout=60
    )


def test_a_listed_gpu_installs_the_gpu_extra(fake_driver: str) -> None:
    result = dry_bootstrap(fake_driver)
    assert result.returncode == 0, result.stderr
    assert "LAB_DEVICE=gpu" in result.stdout and f"-e {ROOT}[test,gpu]" in result.stdout


def test_no_driver_installs_the_cpu_build() -> None:
    result = dry_bootstrap("/usr/bin:/bin")
    assert result.returncode == 0 and f"-e {ROOT}[test]" in result.stdout and "LAB_DEVICE=cpu" in result.stdout


@pytest.mark.parametrize("device, extras", [("cpu", "[test]"), ("gpu", "[test,gpu]")])
def test_lab_device_overrides_the_detection(fake_driver: str, device: str, extras: str) -> None:
    result = dry_bootstrap(fake_driver if device == "cpu" else "/usr/bin:/bin", LAB_DEVICE=device)
    assert result.returncode == 0 and f"-e {ROOT}{extras}" in result.stdout


def test_an_unknown_lab_device_is_refused() -> None:
    result = dry_bootstrap("/usr/bin:/bin", LAB_DEVICE="tpu")
    assert result.returncode == 2 and "use LAB_DEVICE=cpu or LAB_DEVICE=gpu" in result.stderr


def test_the_gpu_extra_names_the_cuda_builds() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"tensorflow[and-cuda]' in text and '"jax[cuda12]' in text


@pytest.fixture
def no_gpu_for_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend sees no GPU, whatever this machine has (lab_utils asks runtime.accelerator)."""
    from lab_utils.training import runtime

    monkeypatch.setattr(runtime, "accelerator", lambda: None)


@pytest.mark.parametrize(
    "smi, cause",
    [
        ("#!/bin/sh\necho 'No devices were found'\nexit 6\n", "no GPU that the tensorflow backend can see"),
        (FAKE_SMI, "was installed without CUDA. Fix: LAB_DEVICE=gpu"),
    ],
)
def test_full_without_a_gpu_refuses_before_any_work(
    tmp_path: Path, fake_driver: str, monkeypatch, smi: str, cause: str, no_gpu_for_the_backend: None
) -> None:
    (Path(fake_driver.split(os.pathsep)[0]) / "nvidia-smi").write_text(smi)  # a driver with no GPU, or with one
    monkeypatch.setenv("PATH", fake_driver)
    code, _, stderr = call_runner(tmp_path, "--profile", "full", "--only", "00")
    assert code == 2, stderr
    assert "--profile full needs a GPU" in stderr and cause in stderr and "--allow-cpu" in stderr
    assert not (tmp_path / "build").exists() and not (tmp_path / "figures").exists()


def test_auto_is_full_exactly_where_the_backend_sees_a_gpu(capsys: pytest.CaptureFixture) -> None:
    from lab_utils.run.runner import resolve_profile
    from lab_utils.training.runtime import accelerator

    gpu = accelerator()  # asked of the backend: the machine may or may not have one
    assert resolve_profile("auto") == ("full" if gpu else "lesson")
    assert (f"GPU found ({gpu})" if gpu else "no GPU visible to") in capsys.readouterr().out


@pytest.mark.e2e
def test_allow_cpu_runs_full_anyway_and_says_on_which_device(tmp_path: Path, mini: Path) -> None:
    from lab_utils.training.runtime import device_description

    result = run_all(tmp_path, "--profile", "full", "--allow-cpu", "--only", "00", "--data-dir", str(mini), "--no-html")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run_all: every run uses {device_description()}" in result.stdout  # the backend's device, GPU or CPU
    assert (tmp_path / "build" / "00_data_exploration.ipynb").is_file()


def test_lab_python_that_cannot_run_the_project_is_refused_with_the_fix(tmp_path: Path) -> None:
    bare = tmp_path / "python"  # an interpreter that sees no site-packages: no Keras, no papermill
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    bare.chmod(0o755)
    # bootstrap.sh is what run_all.sh and run_tests.sh source first: it must stop them before anything runs
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "LAB_PYTHON": str(bare)},
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot run the project (ModuleNotFoundError: No module named" in result.stderr
    assert "pip install -e" in result.stderr and "unset LAB_PYTHON" in result.stderr
