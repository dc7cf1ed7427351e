"""train(): real training on real (mini) MNIST, the run record, and the run cache."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from lab_utils.data.datasets import load_dataset
from lab_utils.errors import ConfigError
from lab_utils.report import evaluation
from lab_utils.training.config import RunConfig
from lab_utils.training.records import RECORD_FILE, WEIGHTS_FILE, load_records
from lab_utils.training.runtime import default_jit_compile
from lab_utils.training.session import train

MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mini"


@pytest.fixture(scope="module")
def mnist():
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    return load_dataset("mnist", MINI)


def test_mnist_cnn_two_epochs_reaches_95_percent_on_real_test_images(mnist, tmp_path: Path) -> None:
    config = RunConfig(experiment="mnist_cnn", dataset="mnist", architecture="simple_cnn", epochs=2, patience=2)
    run = train(config, mnist, runs_root=tmp_path, verbose=0)

    assert not run.cached
    assert len(mnist.y_test) == 2000 and len(mnist.y_train) + len(mnist.y_val) == 8000
    assert run.record.test_accuracy >= 0.95
    predictions = evaluation.predict(run.model, mnist.x_test, mnist.y_test)
    assert evaluation.accuracy(predictions) == pytest.approx(run.record.test_accuracy, abs=1e-6)

    record = run.record
    assert set(record.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in record.history.values())
    assert record.history["loss"][1] < record.history["loss"][0]
    assert len(record.epoch_seconds) == 2 and min(record.epoch_seconds) > 0
    assert record.params["total"] == run.model.count_params()
    assert record.backend == keras.backend.backend()
    assert record.jit_compile is default_jit_compile()  # XLA off on a CPU (~3x slower here), on with a GPU
    assert record.best_epoch in (1, 2)
    saved = json.loads((run.path / RECORD_FILE).read_text())
    assert saved["test_accuracy"] == record.test_accuracy
    assert saved["dataset"]["fingerprint"] == mnist.fingerprint()


def test_second_call_loads_the_saved_run_without_training(mnist, tmp_path: Path, monkeypatch) -> None:
    config = RunConfig(experiment="mlp", dataset="mnist", architecture="mlp", epochs=1, patience=1)
    first = train(config, mnist, runs_root=tmp_path, verbose=0)

    def no_training(*args, **kwargs):
        raise AssertionError("fit() was called for a cached run")

    monkeypatch.setattr(keras.Model, "fit", no_training)
    second = train(config, mnist, runs_root=tmp_path, verbose=0)
    assert second.cached and second.path == first.path
    assert second.record == first.record
    np.testing.assert_allclose(
        second.model.predict(mnist.x_test[:64], verbose=0),
        first.model.predict(mnist.x_test[:64], verbose=0),
        atol=1e-6,
    )
    monkeypatch.undo()

    changed = train(config.replace(batch_size=32), mnist, runs_root=tmp_path, verbose=0)
    assert not changed.cached and changed.path != first.path
    assert sorted(r.config["batch_size"] for r in load_records(tmp_path)) == [32, 64]


def test_interrupted_save_leaves_no_run_behind(mnist, tmp_path: Path, monkeypatch) -> None:
    config = RunConfig(experiment="mlp", dataset="mnist", architecture="mlp", epochs=1, patience=1, seed=3)

    def crash(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        train(config, mnist, runs_root=tmp_path, verbose=0)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    run = train(config, mnist, runs_root=tmp_path, verbose=0)
    assert (run.path / WEIGHTS_FILE).is_file() and not run.cached


def test_config_for_another_dataset_is_refused(mnist, tmp_path: Path) -> None:
    config = RunConfig(experiment="x", dataset="cifar10", architecture="mlp", epochs=1)
    with pytest.raises(ConfigError, match="dataset 'cifar10'"):
        train(config, mnist, runs_root=tmp_path, verbose=0)
