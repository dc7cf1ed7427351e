"""The GPU settings (bf16 mixed precision, XLA, 8 steps per execution) rehearsed on a CPU under JAX.

They are what `full` uses on a modern GPU, and no CI has one: here they must at least train with finite losses,
save and reload exactly, and land within 2 points of float32 on the mini MNIST after 2 epochs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import ROOT

pytestmark = pytest.mark.e2e  # both run the JAX backend in a subprocess


def test_bf16_xla_and_8_steps_train_save_reload_and_match_float32(mini: Path) -> None:
    script = ROOT / "tests" / "scripts" / "gpu_settings_rehearsal.py"
    result = subprocess.run(
        [sys.executable, str(script), str(mini), "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    fp32, bf16 = out["float32"], out["bfloat16"]
    for run, mixed in ((fp32, False), (bf16, True)):
        assert run["record"] == {"mixed_precision": mixed, "jit_compile": True, "steps_per_execution": 8}
        assert len(run["losses"]) == 4 and all(math.isfinite(x) for x in run["losses"])
        assert run["reloaded_from_cache"] and run["reload_max_difference"] < 1e-6
        assert run["conv_kernel_dtype"] == "float32" and run["output_dtype"] == "float32"
    assert fp32["conv_compute_dtype"] == "float32" and bf16["conv_compute_dtype"] == "bfloat16"
    assert fp32["test_accuracy"] > 0.9  # it learned: 2 epochs of the MNIST CNN
    assert abs(fp32["test_accuracy"] - bf16["test_accuracy"]) <= 0.02, (fp32["test_accuracy"], bf16["test_accuracy"])


AUGMENTED_MODELS_COMPILE = """
import json, keras, numpy as np
from lab_utils.data.augment import build_augmentation
from lab_utils.training.config import RunConfig
from lab_utils.training.build import compile_model
out = {}
x = np.zeros((8, 16, 16, 3), np.uint8); y = np.zeros(8, np.int64)
for preset in ("flip_shift", "flip_rotate"):  # RandomTranslation, RandomRotation
    inputs = keras.Input((16, 16, 3))
    hidden = keras.layers.Conv2D(4, 3)(build_augmentation(preset, seed=0)(keras.layers.Rescaling(1 / 255)(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(hidden)))
    execution = compile_model(model, RunConfig(experiment="tiny", dataset="cifar10", architecture="simple_cnn"))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    out[preset] = [execution.jit_compile, bool(model.jit_compile)]
print(json.dumps(out))
"""


def test_augmented_models_train_with_xla_under_jax() -> None:
    # RandomTranslation/RandomRotation declare themselves unjittable for every backend, which made Keras train
    # the whole augmented model op by op under JAX; their JAX code compiles (lab_utils.data.augment).
    result = subprocess.run(
        [sys.executable, "-c", AUGMENTED_MODELS_COMPILE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "flip_shift": [True, True],
        "flip_rotate": [True, True],
    }


@pytest.mark.parametrize("backend, steps", [("torch", 1), ("jax", 8), ("tensorflow", 8)])
def test_steps_per_execution_default_is_one_where_keras_refuses_more(monkeypatch, backend: str, steps: int) -> None:
    from lab_utils.training import runtime

    monkeypatch.setattr(runtime, "backend_name", lambda: backend)
    assert runtime.default_steps_per_execution() == steps
