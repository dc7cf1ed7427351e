"""Bad input: one clear message, a non-zero exit, and every earlier good output untouched.

The runner's own refusals (arguments, folders, worker options) are checked by calling it in-process: seconds each.
One real `./run_all.sh` per kind of failure stays (marked e2e): an argument the real command refuses, a corrupt
data file met inside a notebook, no data set and no network, no ImageNet weights and no network; and one notebook
run through papermill with a bad parameter.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import papermill
import pytest

from lab_utils import Lab
from lab_utils.errors import ConfigError
from lab_utils.run.runner import NOTEBOOKS_DIR
from lab_utils.training.records import RECORD_FILE, WEIGHTS_FILE

from .helpers import call_runner, run_all

# Simulates "offline" for the real download code: every URL goes through a proxy on a closed local port.
OFFLINE = {
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "no_proxy": "",
    "NO_PROXY": "",
}


@pytest.fixture
def good_outputs(tmp_path: Path) -> Path:
    """The outputs of an earlier good run (a figure, a table, a cached run) that a failing run must not touch."""
    out = tmp_path / "out"
    files = {
        "figures/fig01_mnist_samples.png": b"\x89PNG\r\n\x1a\n earlier figure",
        "tables/table1.csv": b"network,reproduced_accuracy\nVGG,51.9\n",
        "tables/table1.md": b"| VGG | 51.90 |\n",
        f"runs/cifar_vgg-0123abcd/{RECORD_FILE}": b"{}",
        f"runs/cifar_vgg-0123abcd/{WEIGHTS_FILE}": b"weights",
    }
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    return out


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time, outside build/."""
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file() and "build" not in p.parts
    }


def fails_cleanly(out: Path, expected_rc: int, messages: list[str], *args: str, env: dict | None = None) -> str:
    """Run run_all.sh expecting failure: return code, each message in stderr, good outputs unchanged."""
    before = snapshot(out)
    result = run_all(out, *args, env={**os.environ, **(env or {})})
    assert result.returncode == expected_rc, result.stderr[-2000:]
    for message in messages:
        assert message in result.stderr, result.stderr[-2000:]
    assert snapshot(out) == before
    return result.stderr


@pytest.mark.parametrize(
    "args, messages",
    [
        (["--profile", "fast"], ["invalid choice: 'fast'", "smoke"]),
        (["--only", "resutls"], ["unknown notebook 'resutls'", "05_results"]),
        (
            ["--data-dir", "{tmp}/no-such-folder"],
            ["--data-dir {tmp}/no-such-folder does not exist", "mnist/ and cifar10/"],
        ),
        (["--tables-dir", "{tmp}/a-file/tables"], ["--tables-dir {tmp}/a-file/tables: cannot create it"]),
        (["--epochs", "0"], ["--epochs 0 must be at least 1"]),
        (["--seeds", "0"], ["--seeds 0 must be at least 1"]),
        (["--train-only"], ["--train-only trains on workers: add --workers N"]),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], ["--workers and --scheduler exclude each other"]),
        (["--workers", "0"], ["--workers 0: give at least 1"]),
        (["--workers", "2", "--data-parallel"], ["--data-parallel splits one run", "choose one"]),
    ],
)
def test_the_runner_refuses_bad_arguments_before_any_work(
    good_outputs: Path, tmp_path: Path, args: list[str], messages: list[str]
) -> None:
    (tmp_path / "a-file").write_text("a file where a folder should be")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = snapshot(good_outputs)
    code, _, stderr = call_runner(good_outputs, "--profile", "smoke", *args)
    assert code == 2, stderr
    for message in messages:
        assert message.replace("{tmp}", str(tmp_path)) in stderr, stderr
    assert snapshot(good_outputs) == before and not (good_outputs / "build").exists()


@pytest.mark.e2e
def test_the_real_command_refuses_an_argument_with_one_message(good_outputs: Path) -> None:
    stderr = fails_cleanly(good_outputs, 2, ["invalid choice: 'fast'", "smoke"], "--profile", "fast")
    assert "Traceback" not in stderr and not (good_outputs / "build").exists()


@pytest.mark.e2e
def test_a_corrupt_data_file_stops_the_run_in_its_notebook_and_names_the_file(
    good_outputs: Path, mini: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(mini, data)
    batch = data / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    fails_cleanly(
        good_outputs,
        1,
        ["FAILED in notebook 02_cifar10_cnn, cell", "DatasetError", "data_batch_3"],
        "--profile",
        "smoke",
        "--data-dir",
        str(data),
        "--only",
        "02",
        "--only",
        "03",
    )
    build = good_outputs / "build"
    assert (build / "02_cifar10_cnn.failed.ipynb").is_file() and not (build / "02_cifar10_cnn.ipynb").exists()
    assert not list(build.glob("03_*")), "the run went on after the first failure"


@pytest.mark.e2e
def test_dataset_missing_offline(good_outputs: Path, tmp_path: Path) -> None:
    env = {**OFFLINE, "KERAS_HOME": str(tmp_path / "keras"), "LAB_DATA_DIR": ""}
    fails_cleanly(
        good_outputs,
        1,
        ["FAILED in notebook 00_data_exploration", "DatasetError", "mnist"],
        "--profile",
        "smoke",
        "--only",
        "00",
        env=env,
    )
    assert not list((tmp_path / "keras").rglob("*.npz"))


@pytest.mark.e2e
def test_imagenet_weights_missing_offline(good_outputs: Path, mini: Path, tmp_path: Path) -> None:
    env = {**OFFLINE, "KERAS_HOME": str(tmp_path / "keras")}
    stderr = fails_cleanly(
        good_outputs,
        1,
        [
            "FAILED in notebook 03_transfer_learning",
            "WeightsError",
            "_weights_tf_dim_ordering_tf_kernels_notop.h5",  # the first missing base's file, named to be copied
        ],
        "--profile",
        "quick",
        "--data-dir",
        str(mini),
        "--only",
        "03",
        "--epochs",
        "1",
        env=env,
    )
    assert str(tmp_path / "keras" / "models") in stderr
    assert not list((tmp_path / "keras").rglob("*.h5"))


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"profile": "fast"}, "unknown profile 'fast'"),
        ({"epochs": 0}, "epochs=0 must be a positive whole number"),
    ],
)
def test_bad_notebook_parameters_are_refused_by_the_first_cell(parameters: dict, message: str) -> None:
    """What the notebooks' first code cell does with their parameters: `Lab(profile, ..., epochs=epochs)`."""
    parameters = {"profile": "smoke", **parameters}
    with pytest.raises(ConfigError, match=message):
        Lab(parameters.pop("profile"), **parameters)


@pytest.mark.e2e
def test_a_bad_notebook_parameter_fails_the_notebook_with_a_clear_message(tmp_path: Path) -> None:
    parameters = {
        "figures_dir": str(tmp_path / "figures"),
        "tables_dir": str(tmp_path / "tables"),
        "data_dir": "/no/such/folder",
    }
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / "00_data_exploration.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters=parameters,
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
    assert "/no/such/folder" in str(error.value.evalue)
    assert error.value.ename in ("ConfigError", "DatasetError")
    assert not (tmp_path / "figures").exists() or not any((tmp_path / "figures").iterdir())
