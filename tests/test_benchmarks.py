"""benchmarks/: the FLOP counter against hand arithmetic, and a tiny run of the training benchmark.

The benchmark is not a test of speed: CI only checks that it runs and that its JSON is complete and consistent.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not part of the installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_training import Worker, check_targets, main  # noqa: E402
from benchmarks.flops import flops_per_image, layer_macs  # noqa: E402
from benchmarks.pipelines import CASES  # noqa: E402


def tiny_conv_net(*, freeze_first: bool = False) -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1", trainable=not freeze_first)(inputs)
    x = keras.layers.MaxPooling2D(1, name="pool")(x)  # no multiply-adds
    x = keras.layers.Conv2D(2, 3, padding="valid", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(5, name="dense")(x)
    return keras.Model(inputs, outputs)


def test_flop_counter_matches_hand_arithmetic() -> None:
    model = tiny_conv_net()
    conv1 = 8 * 8 * 4 * (3 * 3 * 3)  # output positions × output channels × kernel taps
    conv2 = 6 * 6 * 2 * (3 * 3 * 4)
    dense = (6 * 6 * 2) * 5
    assert [layer_macs(model.get_layer(n)) for n in ("conv1", "pool", "conv2", "dense")] == [conv1, 0, conv2, dense]
    assert flops_per_image(model) == {
        "forward": 2 * (conv1 + conv2 + dense),
        "training": 3 * 2 * (conv1 + conv2 + dense),
    }
    frozen = flops_per_image(tiny_conv_net(freeze_first=True))
    assert frozen["training"] == 2 * conv1 + 3 * 2 * (conv2 + dense)  # a frozen layer runs forward only


def test_flop_counter_gives_the_issues_233_mflop_for_the_vgg_blocks() -> None:
    from lab_utils.models.builders import build_model

    model = build_model("vgg_blocks", batch_norm=True, augmentation="flip_shift")  # nested Sequential included
    assert flops_per_image(model)["training"] == 233_381_376


def test_targets_are_checked_on_medians() -> None:
    def case(**medians):
        return {"pipelines": {p: {"median": m, "share_of_limit": m / 1000} for p, m in medians.items()}}

    targets = {
        t["target"]: t
        for t in check_targets(
            {
                "vgg_bn": case(project=900, torch=800),
                "vgg_bn_aug": case(project=850, seed=300),
                "mnist_cnn": case(project=4000, seed=4100, torch=2500),
            }
        )
    }
    assert targets["vgg_bn_aug: project / seed-style"]["met"]
    assert targets["vgg_bn_aug: augmentation overhead"]["value"] == pytest.approx(1 - 850 / 900, abs=1e-3)
    assert targets["vgg_bn: project / torch"]["met"] and targets["vgg_bn: share of the limit"]["met"]
    assert not targets["mnist_cnn: project / best other"]["met"]


def test_avx2_mode_makes_the_workers_onednn_run_avx2_kernels(tmp_path: Path, monkeypatch) -> None:
    # ONEDNN_VERBOSE prints the ISA oneDNN dispatches to when it creates its first primitive (the matmul's GEMM):
    # proof that the child's environment, not just a dictionary, caps it (on an AVX-512 machine native says more).
    monkeypatch.setenv("ONEDNN_VERBOSE", "1")
    worker = Worker("project", tmp_path, isa="avx2", label="project@avx2")
    try:
        assert worker.ask(op="matmul", n=64, repeats=1)["gflops"] > 0
    finally:
        worker.close()
    isa_lines = [line for line in worker.log.read_text().splitlines() if ",info,cpu,isa:" in line]
    assert isa_lines and isa_lines[0].endswith("isa:Intel AVX2"), isa_lines


def test_an_unknown_isa_mode_is_refused_by_name(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--isa", "avx3"])
    assert "invalid choice: 'avx3' (choose from 'native', 'avx2')" in capsys.readouterr().err


def test_command_line_overrides_reach_the_projects_run_config() -> None:
    import argparse

    from benchmarks.pipelines import add_common_options, project_overrides

    parser = argparse.ArgumentParser()
    add_common_options(parser, CASES, tiny="")
    assert project_overrides(parser.parse_args([])) == {}
    assert project_overrides(parser.parse_args(["--jit-compile", "on", "--steps-per-execution", "2"])) == {
        "jit_compile": True,
        "steps_per_execution": 2,
    }
    assert project_overrides(parser.parse_args(["--jit-compile", "off"])) == {"jit_compile": False}


def test_fused_bn_pipeline_is_the_project_with_fused_batch_norm() -> None:
    import keras

    from benchmarks.pipelines import KerasProject, KerasProjectFusedBN, random_data
    from lab_utils.models.layers import FusedBatchNormalization

    x, y = random_data(CASES["vgg_bn"], 64)
    project, fused = KerasProject(CASES["vgg_bn"], x, y), KerasProjectFusedBN(CASES["vgg_bn"], x, y)

    def kinds(model):
        return [type(layer) for layer in model.layers]

    assert kinds(project.model).count(keras.layers.BatchNormalization) == 7
    assert FusedBatchNormalization not in kinds(project.model)
    assert kinds(fused.model).count(FusedBatchNormalization) == 7
    assert [w.shape for w in fused.model.weights] == [w.shape for w in project.model.weights]
    for model in (project.model, fused.model):  # the RunConfig's choices for this device, not Keras's defaults
        assert model.steps_per_execution == project.execution.steps_per_execution == 8
        assert model.jit_compile is project.execution.jit_compile is False
        assert model.loss == "sparse_categorical_crossentropy"
        assert model.optimizer.get_config()["momentum"] == 0.9


def _benchmark(module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m benchmarks.<module> --tiny <args>` from the checkout; fails the test with its stderr on an error."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--tiny", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.e2e
def test_backends_and_extra_pipelines_get_their_own_workers(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    _benchmark(
        "bench_training",
        *("--only", "mnist_cnn", "--backend", "tensorflow", "--backend", "jax", "--pipeline", "fused_bn"),
        *("--json", str(out)),
    )
    case = json.loads(out.read_text())["cases"]["mnist_cnn"]
    assert case["keras_backend"] == {
        "project": "tensorflow",
        "project@jax": "jax",
        "fused_bn": "tensorflow",
        "fused_bn@jax": "jax",
    }
    assert set(case["ratios"]) == {"project/project@jax", "project/fused_bn", "project/fused_bn@jax"}


@pytest.mark.e2e
def test_tiny_benchmark_covers_every_model_and_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = _benchmark("bench_training", "--json", str(out))
    result = json.loads(out.read_text())
    has_torch = importlib.util.find_spec("torch") is not None
    pipelines = {"project", "seed"} | ({"torch"} if has_torch else set())
    assert set(result["cases"]) == set(CASES)
    assert result["isa"]["modes"] == ["native"] and isinstance(result["machine"]["avx512f"], bool)
    assert ("torch" in result["skipped"]) is not has_torch
    assert result["peak_gflops"]["used"] == max(result["peak_gflops"]["numpy"], result["peak_gflops"]["tensorflow"])
    for name, case in result["cases"].items():
        assert set(case["pipelines"]) == pipelines, name
        assert case["flops_per_image"]["training"] >= case["flops_per_image"]["forward"] > 0
        assert case["limit_images_per_s"] == pytest.approx(
            result["peak_gflops"]["used"] * 1e9 / case["flops_per_image"]["training"], rel=1e-2
        )
        project = case["pipelines"]["project"]["median"]
        for pipeline, summary in case["pipelines"].items():
            assert len(summary["images_per_s"]) == result["settings"]["repeats"]
            assert 0 < summary["min"] <= summary["median"] <= summary["max"], (name, pipeline)
            # both sides are computed from values the JSON stores rounded: compare relatively
            assert summary["share_of_limit"] == pytest.approx(summary["median"] / case["limit_images_per_s"], rel=1e-2)
            if pipeline != "project":
                assert case["ratios"][f"project/{pipeline}"] == pytest.approx(project / summary["median"], rel=1e-2)
    assert {t["target"].split(":")[0] for t in result["targets"]} == {"vgg_bn_aug", "vgg_bn", "mnist_cnn"}
    assert "| vgg_bn_aug | seed |" in done.stdout


@pytest.mark.e2e
def test_epoch_benchmark_reports_seconds_per_report_epoch_and_checks_the_gpu_targets(tmp_path: Path) -> None:
    # benchmarks/bench_gpu.py is what a GPU machine runs (README: H200 numbers); here it must run on any device,
    # with the overrides of a case (batch 512, bf16) applied and the targets judged on the scaled epoch.
    out = tmp_path / "bench_gpu.json"
    done = _benchmark("bench_gpu", "--only", "mnist_cnn", "--only", "vgg_bn_aug_b512_bf16", "--json", str(out))
    result = json.loads(out.read_text())
    assert (
        result["images"] == 256
        and result["epochs"] == 1
        and set(result["cases"]) == {"mnist_cnn", "vgg_bn_aug_b512_bf16"}
    )
    fast = result["cases"]["vgg_bn_aug_b512_bf16"]
    assert fast["batch_size"] == 512 and fast["execution"]["mixed_precision"] is True
    assert (
        fast["data"] == "tf.data" if result["device"]["backend"] == "tensorflow" else fast["data"] in ("host", "device")
    )
    for name, case in result["cases"].items():
        assert case["median_s"] > 0 and len(case["epoch_s"]) == 1, name
        assert case["s_per_40000_images"] == pytest.approx(case["median_s"] * 40_000 / 256, rel=1e-2)
    assert fast["target_s"] == 0.15 and fast["target_met"] == (fast["s_per_40000_images"] <= 0.15)
    assert result["cases"]["mnist_cnn"]["target_met"] is None
    assert "| vgg_bn_aug_b512_bf16 | 512 | True |" in done.stdout


def test_the_equivalence_check_trains_both_pipelines_on_real_images(tmp_path: Path) -> None:
    from benchmarks import equivalence
    from lab_utils import load_dataset

    from .helpers import MINI

    data = load_dataset("cifar10", MINI, train_limit=160, test_limit=50)
    project = equivalence.project_run(data, seed=0, epochs=1, runs_root=tmp_path)
    seed_style = equivalence.seed_style_run(data, seed=0, epochs=1)
    for run in (project, seed_style):
        assert len(run["val_accuracy"]) == 1 and 0.0 <= run["val_accuracy"][0] <= 1.0
        assert len(run["epoch_seconds"]) == 1
