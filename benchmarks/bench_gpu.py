"""Seconds per epoch of the report's models at the report's scale, on the project's pipeline, on any backend.

The seed reports 6 s per CIFAR-10 epoch without augmentation and 27 s with it, on an RTX 2070 (40,000 training
images, batch 64). This benchmark times the same epoch for each model family of the report with what
`lab_utils.training.session.Session.run` does on this device (`build_and_compile`'s per-device choices: XLA, steps per
execution, bf16 on GPUs that have it; `pipeline.fit_arguments`: on a JAX accelerator the uint8 images are put
on the device once and Keras slices batches there), and checks issue 14's two GPU targets:

- augmented VGG blocks + BN at batch 64: ≤ 1.0 s per 40,000-image epoch;
- the same at batch 512 with bf16 and the data on the device: ≤ 0.15 s.

    KERAS_BACKEND=jax python -m benchmarks.bench_gpu                       # every case, 40,000 images
    KERAS_BACKEND=jax python -m benchmarks.bench_gpu --only vgg_bn_aug --json build/bench_gpu.json
    python -m benchmarks.bench_gpu --tiny                                  # seconds, any device: a smoke check

Each case builds its model once, trains one untimed epoch (compilation), then `--epochs` timed epochs of
random uint8 images (speed does not depend on the pixels; transfer bases get random weights, which cost the
same arithmetic as ImageNet's and keep this offline). It reports the median epoch and the time per 1,000
images, so a CPU run of a few images still compares.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.pipelines import CASES as CPU_CASES
from benchmarks.pipelines import Case, KerasProject, add_common_options, project_overrides, random_data

REPORT_IMAGES = 40_000  # the seed's CIFAR-10 training split (50,000 minus a 10,000-image validation set)


@dataclass(frozen=True)
class GpuCase:
    """One timed model: a benchmark case, the RunConfig fields it overrides, and the target it must meet."""

    case: Case
    overrides: dict[str, Any] = field(default_factory=dict)  # RunConfig fields (batch_size, mixed_precision)
    target_s: float | None = None  # seconds per REPORT_IMAGES-image epoch, None = no target
    report_s: float | None = None  # the seed's seconds per epoch on an RTX 2070, where it gives one


_TRANSFER = {"weights": None}  # the full profile fine-tunes the whole base, as the seed did
CASES: dict[str, GpuCase] = {  # the two targets first
    "vgg_bn_aug": GpuCase(CPU_CASES["vgg_bn_aug"], target_s=1.0, report_s=27.0),
    "vgg_bn_aug_b512_bf16": GpuCase(
        CPU_CASES["vgg_bn_aug"], {"batch_size": 512, "mixed_precision": True}, target_s=0.15
    ),
    "vgg_bn": GpuCase(CPU_CASES["vgg_bn"], report_s=6.0),
    "simple_cnn": GpuCase(Case("cifar_simple_cnn_dropout", (32, 32, 3), description="CIFAR simple CNN + dropout")),
    "mnist_cnn": GpuCase(CPU_CASES["mnist_cnn"]),
    "resnet50": GpuCase(
        Case(
            "resnet50_adam",
            (32, 32, 3),
            model_overrides=_TRANSFER,
            description="ResNet50 transfer, whole base trained, Adam",
        )
    ),
    "vgg19": GpuCase(
        Case(
            "vgg19_adam", (32, 32, 3), model_overrides=_TRANSFER, description="VGG19 transfer, whole base trained, Adam"
        )
    ),
}


def data_placement(fit_args: dict[str, Any]) -> str:
    """Where the training images live during fit: "device" (a JAX array off the CPU), "tf.data" or "host"."""
    x = fit_args["x"]
    devices = getattr(x, "devices", None)
    if callable(devices):
        return "device" if any(d.platform != "cpu" for d in devices()) else "host (jax, cpu)"
    if hasattr(x, "element_spec"):
        return "tf.data"
    return "host" if hasattr(x, "shape") else type(x).__name__


def time_case(case: GpuCase, images: int, epochs: int, **overrides: Any) -> dict[str, Any]:
    """Build the case's model on `images` random images, compile it with one epoch, then time `epochs` epochs.

    `overrides` are RunConfig fields a caller sets on top of the case's (e.g. steps_per_execution).
    """
    x, y = random_data(case.case, images)
    project = KerasProject(case.case, x, y, **{**case.overrides, **overrides})
    started = time.perf_counter()
    project.epoch()  # compiles: not timed
    first = time.perf_counter() - started
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        project.epoch()
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    per_report_epoch = median * REPORT_IMAGES / images
    return {
        "description": case.case.description,
        "images": images,
        "batch_size": project.config.batch_size,
        "execution": vars(project.execution),
        "data": data_placement(project.fit_args),
        "first_epoch_s": round(first, 3),
        "epoch_s": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        "s_per_1000_images": round(median * 1000 / images, 5),
        "s_per_40000_images": round(per_report_epoch, 3),
        "images_per_s": round(images / median),
        "report_s": case.report_s,
        "target_s": case.target_s,
        "target_met": None if case.target_s is None else per_report_epoch <= case.target_s,
    }


def device() -> dict[str, Any]:
    """The backend and the device it trains on, for the JSON and the table's header."""
    from lab_utils.training import runtime

    return {"backend": runtime.backend_name(), "device": runtime.device_description(), "versions": runtime.versions()}


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table of the cases: seconds per 40,000-image epoch beside the seed's and the target."""
    lines = [
        f"{result['device']['device']} ({result['device']['backend']}), {result['images']:,} random images "
        f"per epoch, median of {result['epochs']}",
        "",
        "| case | batch | bf16 | data | first epoch s | s / epoch | s / 40,000 images | images/s | "
        "seed (RTX 2070) | target |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, case in result["cases"].items():
        target = (
            "" if case["target_s"] is None else (f"≤ {case['target_s']} s: {'met' if case['target_met'] else 'missed'}")
        )
        seed = "" if case["report_s"] is None else f"{case['report_s']:g} s"
        lines.append(
            f"| {name} | {case['batch_size']} | {case['execution'].get('mixed_precision')} | "
            f"{case['data']} | {case['first_epoch_s']:.1f} | {case['median_s']:.3f} | "
            f"{case['s_per_40000_images']:.2f} | {case['images_per_s']:,} | {seed} | {target} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=REPORT_IMAGES, help="random training images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per case, after one untimed")
    add_common_options(parser, CASES, tiny="256 images, 1 timed epoch: checks everything works")
    args = parser.parse_args(argv)
    if args.tiny:
        args.images, args.epochs = 256, 1
    if args.images < 1 or args.epochs < 1:
        parser.error("--images and --epochs must be at least 1")
    started = time.time()
    result = {"device": device(), "images": args.images, "epochs": args.epochs, "tiny": args.tiny, "cases": {}}
    for name in args.only or list(CASES):
        print(f"{name}: {CASES[name].case.description} ...", file=sys.stderr, flush=True)
        result["cases"][name] = time_case(CASES[name], args.images, args.epochs, **project_overrides(args))
        result["seconds"] = round(time.time() - started, 1)
        if args.json:  # after every case: a run stopped by a time limit keeps what it measured
            from lab_utils.atomic import atomic_write_text

            atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    return result


if __name__ == "__main__":
    main()
