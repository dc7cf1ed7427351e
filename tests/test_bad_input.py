"""Bad input end to end, through run_all.sh and through the notebooks' parameters: one clear message,
a non-zero exit, and every earlier good output untouched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import papermill
import pytest

from lab_utils.run.runner import NOTEBOOKS_DIR

from .helpers import run_all

# Simulates "offline" for the real download code: every URL goes through a proxy on a closed local port.
OFFLINE = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY":
           "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


@pytest.fixture
def good_outputs(smoke: Path, tmp_path: Path) -> Path:
    """A copy of a complete smoke run's outputs, to check that a failing run leaves them untouched."""
    out = tmp_path / "out"
    for folder in ("figures", "tables", "runs"):
        shutil.copytree(smoke / folder, out / folder)
    return out


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time."""
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file() and "build" not in p.parts}


def fails_cleanly(out: Path, expected_rc: int, messages: list[str], *args: str, env: dict | None = None) -> str:
    """Run run_all.sh expecting failure: return code, each message in stderr, good outputs unchanged."""
    before = snapshot(out)
    result = run_all(out, *args, env={**os.environ, **(env or {})})
    assert result.returncode == expected_rc, result.stderr[-2000:]
    for message in messages:
        assert message in result.stderr, result.stderr[-2000:]
    assert snapshot(out) == before
    return result.stderr


def test_unknown_profile(good_outputs: Path) -> None:
    fails_cleanly(good_outputs, 2, ["invalid choice: 'fast'", "smoke"], "--profile", "fast")


def test_unknown_notebook(good_outputs: Path) -> None:
    fails_cleanly(good_outputs, 2, ["unknown notebook 'resutls'", "05_results"], "--profile", "smoke",
                  "--only", "resutls")


def test_missing_data_folder(good_outputs: Path, tmp_path: Path) -> None:
    fails_cleanly(good_outputs, 2, ["does not exist", "mnist/ and cifar10/"], "--profile", "smoke",
                  "--data-dir", str(tmp_path / "no-such-folder"))


def test_truncated_cifar_batch(good_outputs: Path, mini: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(mini, data)
    batch = data / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    fails_cleanly(good_outputs, 1, ["FAILED in notebook 02_cifar10_cnn", "DatasetError", "data_batch_3"],
                  "--profile", "smoke", "--data-dir", str(data), "--only", "02")


def test_corrupt_mnist_gzip(good_outputs: Path, mini: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(mini, data)
    images = data / "mnist" / "train-images-idx3-ubyte.gz"
    raw = bytearray(images.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)
    images.write_bytes(bytes(raw))
    fails_cleanly(good_outputs, 1, ["FAILED in notebook 00_data_exploration", "DatasetError",
                                    "train-images-idx3-ubyte.gz"], "--profile", "smoke", "--data-dir", str(data))


def test_dataset_missing_offline(good_outputs: Path, tmp_path: Path) -> None:
    env = {**OFFLINE, "KERAS_HOME": str(tmp_path / "keras"), "LAB_DATA_DIR": ""}
    fails_cleanly(good_outputs, 1, ["FAILED in notebook 00_data_exploration", "DatasetError", "mnist"],
                  "--profile", "smoke", "--only", "00", env=env)
    assert not list((tmp_path / "keras").rglob("*.npz"))


def test_imagenet_weights_missing_offline(good_outputs: Path, mini: Path, tmp_path: Path) -> None:
    env = {**OFFLINE, "KERAS_HOME": str(tmp_path / "keras")}
    stderr = fails_cleanly(good_outputs, 1, ["FAILED in notebook 03_transfer_learning", "WeightsError",
                                             "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"],
                           "--profile", "quick", "--data-dir", str(mini), "--only", "03", "--epochs", "1", env=env)
    assert str(tmp_path / "keras" / "models") in stderr
    assert not list((tmp_path / "keras").rglob("*.h5"))


def test_unwritable_output_folder(good_outputs: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fails_cleanly(good_outputs, 2, ["--tables-dir", "cannot create it"], "--profile", "smoke",
                  "--tables-dir", str(blocker / "tables"))


@pytest.mark.parametrize("parameters, message", [
    ({"profile": "fast"}, "unknown profile 'fast'"),
    ({"epochs": 0}, "epochs=0 must be a positive whole number"),
    ({"data_dir": "/no/such/folder"}, "/no/such/folder"),
])
def test_bad_notebook_parameters_fail_with_a_clear_message(parameters: dict, message: str, tmp_path: Path) -> None:
    parameters = {"figures_dir": str(tmp_path / "figures"), "tables_dir": str(tmp_path / "tables"), **parameters}
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(NOTEBOOKS_DIR / "00_data_exploration.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=parameters, cwd=str(NOTEBOOKS_DIR), progress_bar=False)
    assert message in str(error.value.evalue)
    assert error.value.ename in ("ConfigError", "DatasetError")
    assert not (tmp_path / "figures").exists() or not any((tmp_path / "figures").iterdir())
