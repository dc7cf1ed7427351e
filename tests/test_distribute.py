"""Data-parallel training on 2 virtual CPU devices, on TensorFlow (MirroredStrategy) and JAX (DataParallel)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab_utils.errors import ConfigError
from lab_utils.training import distribute

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT.parent / "shared" / "data" / "mini"
SCRIPT = Path(__file__).parent / "scripts" / "data_parallel_check.py"
# One step: the averaged gradient equals the single-device one up to float32 summation order (measured
# exactly equal on TF, ~1e-7 relative on JAX). One epoch (25 momentum-SGD steps) amplifies those last bits,
# as any change of summation order does: we measured 2.4 % on the training loss; 5 % and 3 points bound it.
STEP_RTOL = 1e-4
LOSS_RTOL = 0.05
ACCURACY_ATOL = 0.03


def run_check(backend: str, tmp_path: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env.pop("LAB_DATA_PARALLEL", None)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(MINI), str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.e2e)])
def test_data_parallel_matches_single_device_training(backend: str, tmp_path: Path) -> None:
    if not MINI.is_dir():
        pytest.skip(f"real mini data not found at {MINI}")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    results = run_check(backend, tmp_path)
    assert len(results["devices"]) == 2
    assert results["single"]["replicas"] == 1 and results["parallel"]["replicas"] == 2
    assert results["per_replica_batch"] == [32, 32]  # the global batch of 64, split in two
    assert results["one_step_max_abs_diff"] <= STEP_RTOL * results["one_step_max_abs_update"]
    single, parallel = results["single"], results["parallel"]
    assert parallel["loss"] == pytest.approx(single["loss"], rel=LOSS_RTOL)
    assert parallel["val_loss"] == pytest.approx(single["val_loss"], rel=LOSS_RTOL)
    assert abs(parallel["test_accuracy"] - single["test_accuracy"]) <= ACCURACY_ATOL


def test_switch_reads_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(distribute.ENV_SWITCH, "1")
    assert distribute.requested() is True
    assert distribute.requested(False) is False
    monkeypatch.setenv(distribute.ENV_SWITCH, "0")
    assert distribute.requested() is False


def test_one_device_is_refused_with_the_fix(monkeypatch) -> None:
    monkeypatch.setattr(distribute, "devices", lambda: ["/device:CPU:0"])
    with (
        pytest.raises(ConfigError, match=r"at least 2 devices.*set_logical_device_configuration"),
        distribute.data_parallel(True),
    ):
        pass
