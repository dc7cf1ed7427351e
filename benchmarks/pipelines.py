"""The pipelines the benchmark compares, each run in its own worker process.

- `project`: what `lab_utils.training.session.Session.run` does — `build_and_compile` with the experiment's `RunConfig`
  (per-device compile choices), `pipeline.fit_arguments` (uint8 tf.data with prefetch) with tf.data's
  autotuner off (`lab_utils.training.cpu.without_autotune`, the fix for TensorFlow's half-speed mode).
- `fused_bn` (only when asked for): `project` with `lab_utils.models.layers.FusedBatchNormalization` (batch norm in
  one fused op on TensorFlow) instead of Keras's `BatchNormalization`: the optional way to go faster.
- `validated` (only when asked for): `project`'s epoch, then validation on a quarter as many images, as the lesson.
- `seed`: what the seed's code did — Keras's own `BatchNormalization`, host-side float32 images, one-hot labels,
  `categorical_crossentropy` with Keras's default compile, `fit` on NumPy arrays, augmentation by
  `ImageDataGenerator` (Keras 3 keeps it in `keras.src.legacy`), TensorFlow's default threading.
- `torch`: the same architecture in plain PyTorch, channels_last (benchmarks.torch_models).

One process per pipeline keeps their thread pools apart and leaves each library at its own defaults; the
coordinator (benchmarks.bench_training) runs one timed epoch at a time, so they never compete for the cores.
A worker reads one JSON request per line on stdin and answers one JSON line on the protocol pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PIPELINES = ("project", "seed", "torch")  # timed by default
EXTRA_PIPELINES = ("fused_bn", "validated")  # timed when asked for (--pipeline)

# The environment a fresh process needs to run only AVX2 code (libraries read it once, when they load):
# oneDNN (TensorFlow's convolutions, matmuls, reorders) dispatches its JIT kernels up to ONEDNN_MAX_CPU_ISA, and XLA's
# CPU code generator (TensorFlow's jit_compile, JAX) compiles for at most --xla_cpu_max_isa, and PyTorch's own ATen
# kernels (batch norm, elementwise, its non-oneDNN convolutions) dispatch up to ATEN_CPU_CAPABILITY. TensorFlow's Eigen
# kernels (ops oneDNN does not take: batch norm, elementwise) are compiled ahead of time and do not change.
ISAS = ("native", "avx2")


def isa_environment(isa: str, base: dict[str, str]) -> dict[str, str]:
    """`base` with the variables that cap oneDNN and XLA at this ISA ("native": unchanged)."""
    if isa not in ISAS:
        raise ValueError(f"unknown ISA mode {isa!r}: choose one of {', '.join(ISAS)}")
    if isa == "native":
        return dict(base)
    xla_flags = " ".join(filter(None, [base.get("XLA_FLAGS"), "--xla_cpu_max_isa=AVX2"]))
    return {**base, "ONEDNN_MAX_CPU_ISA": "AVX2", "XLA_FLAGS": xla_flags, "ATEN_CPU_CAPABILITY": "avx2"}


@dataclass(frozen=True)
class Case:
    """One benchmarked model: a project experiment, optionally with overrides, and its input shape."""

    experiment: str
    shape: tuple[int, int, int]
    augmentation: str | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    steps_scale: int = 1  # × --steps: a small model needs more steps to make fit()'s fixed start-up cost small


CASES: dict[str, Case] = {
    "mnist_cnn": Case("mnist_cnn", (28, 28, 1), description="MNIST CNN (section IV-A.1)", steps_scale=4),
    "vgg_bn": Case("cifar_vgg_bn", (32, 32, 3), description="CIFAR VGG blocks + BN + dropout"),
    "vgg_bn_aug": Case(
        "cifar_vgg_bn",
        (32, 32, 3),
        augmentation="flip_shift",
        description="CIFAR VGG blocks + BN + dropout, flip + shifts 0.1",
    ),
    # Random weights: ImageNet's would only change the numbers, not the arithmetic, and keep this offline.
    "vgg19_frozen": Case(
        "vgg19_adam",
        (32, 32, 3),
        model_overrides={"weights": None, "freeze_base": True},
        description="VGG19 transfer, frozen base, Adam",
    ),
}

SEED_AUGMENTATION = {  # ImageDataGenerator arguments of the seed's augmentation sets
    "flip_shift": {"horizontal_flip": True, "width_shift_range": 0.1, "height_shift_range": 0.1},
}


def run_config(case: Case):
    """The RunConfig the project would train for this case."""
    from lab_utils.training.experiments import get_experiment

    config = get_experiment(case.experiment, case.augmentation).config
    return config.replace(model_kwargs={**config.model_kwargs, **case.model_overrides})


def random_data(case: Case, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random uint8 images and integer labels: speed does not depend on the pixels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *case.shape), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def add_common_options(parser: argparse.ArgumentParser, cases: Iterable[str], tiny: str) -> None:
    """The options both benchmarks take: which cases, where the JSON goes, a tiny run, a steps-per-call override."""
    parser.add_argument("--only", action="append", choices=sorted(cases), help="run only this case (repeatable)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--tiny", action="store_true", help=tiny)
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        help="override the project's per-device choice (RunConfig.steps_per_execution)",
    )
    parser.add_argument(
        "--jit-compile",
        choices=("on", "off"),
        help="override the project's per-device XLA choice (RunConfig.jit_compile)",
    )


def project_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig fields the command line overrides for the project's pipeline."""
    overrides: dict[str, Any] = {}
    if args.steps_per_execution is not None:
        overrides["steps_per_execution"] = args.steps_per_execution
    if args.jit_compile is not None:
        overrides["jit_compile"] = args.jit_compile == "on"
    return overrides


class KerasProject:
    """The project's pipeline, as lab_utils.training.session.Session.run runs it."""

    def __init__(self, case: Case, x: np.ndarray, y: np.ndarray, **overrides: Any) -> None:
        from lab_utils.data.datasets import Dataset
        from lab_utils.training import pipeline
        from lab_utils.training.build import build_and_compile
        from lab_utils.training.cpu import without_autotune

        # overrides: RunConfig fields a caller may set (jit_compile, mixed_precision, steps_per_execution)
        self.config = run_config(case).replace(**overrides)
        data = Dataset(
            name=self.config.dataset,
            class_names=tuple(str(i) for i in range(10)),
            x_train=x,
            y_train=y,
            x_val=x[:1],
            y_val=y[:1],
            x_test=x[:1],
            y_test=y[:1],
            source="random",
        )
        if "weights" in self.config.model_kwargs:  # random weights: the arithmetic is the same, and offline
            self.config = self.config.replace(model_kwargs={**self.config.model_kwargs, "weights": None})
        self.model, self.execution = build_and_compile(self.config, data)
        self.fit_args = pipeline.fit_arguments(x, y, batch_size=self.config.batch_size, seed=self.config.seed)
        if "y" not in self.fit_args:  # a tf.data pipeline: the half-speed fix of lab_utils.training.cpu (idempotent)
            self.fit_args["x"] = without_autotune(self.fit_args["x"])

    def epoch(self) -> None:
        self.model.fit(**self.fit_args, epochs=1, verbose=0)

    def info(self) -> dict[str, Any]:
        import keras

        from benchmarks.flops import flops_per_image
        from lab_utils.models.builders import count_params

        return {
            "flops_per_image": flops_per_image(self.model),
            "params": count_params(self.model)["total"],
            "execution": vars(self.execution),
            "batch_size": self.config.batch_size,
            "backend": keras.backend.backend(),
        }


def with_fused_batch_norm(model):
    """A copy of `model` with `lab_utils`'s `FusedBatchNormalization` wherever it has Keras's `BatchNormalization`
    (same weights and config: the fused layer is a subclass that computes the same function in one op)."""
    import keras

    from lab_utils.models.layers import FusedBatchNormalization

    def fused(layer):
        plain = type(layer) is keras.layers.BatchNormalization
        return FusedBatchNormalization.from_config(layer.get_config()) if plain else layer

    return keras.models.clone_model(model, clone_function=fused)


def seed_model(config, input_shape: tuple[int, ...], num_classes: int = 10):
    """The experiment's network as the seed wrote it: the builders' Keras layers, its BatchNormalization included."""
    from lab_utils.models.builders import build_model

    kwargs = {k: v for k, v in config.model_kwargs.items() if k != "augmentation"}
    return build_model(config.architecture, input_shape=input_shape, num_classes=num_classes, **kwargs)


class KerasProjectFusedBN(KerasProject):
    """The project's pipeline with `FusedBatchNormalization` instead of Keras's batch norm: what fusing buys."""

    def __init__(self, case: Case, x: np.ndarray, y: np.ndarray, **overrides: Any) -> None:
        super().__init__(case, x, y, **overrides)
        compiled, self.model = self.model, with_fused_batch_norm(self.model)
        self.model.compile_from_config(compiled.get_compile_config())  # the same optimizer, loss and call options


class KerasProjectValidated(KerasProject):
    """The project's epoch followed by the lesson's validation: a quarter as many images as it trains on (the mini
    CIFAR-10's 761 per 3,044), evaluated as `lab.fit` does — what validating every epoch costs."""

    def __init__(self, case: Case, x: np.ndarray, y: np.ndarray, **overrides: Any) -> None:
        from lab_utils.training import pipeline
        from lab_utils.training.fit import EVAL_BATCH

        super().__init__(case, x, y, **overrides)
        n = max(1, len(x) // 4)
        self.fit_args.update(pipeline.validation_arguments(x[:n], y[:n], batch_size=EVAL_BATCH))


class KerasSeed:
    """The seed's pipeline: Keras's BatchNormalization, float32 host arrays, one-hot labels, default compile,
    ImageDataGenerator."""

    def __init__(self, case: Case, x: np.ndarray, y: np.ndarray, **_: Any) -> None:
        import keras
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        from lab_utils.training.build import make_optimizer

        config = run_config(case)
        self.model = seed_model(config, case.shape)
        self.model.compile(optimizer=make_optimizer(config), loss="categorical_crossentropy", metrics=["accuracy"])
        self.x = x.astype("float32")  # the seed scaled on the host: 4× the bytes of uint8
        self.y = keras.utils.to_categorical(y, 10)
        self.batch_size = config.batch_size
        self.steps = len(x) // self.batch_size
        self.flow = None
        if case.augmentation is not None:
            generator = ImageDataGenerator(**SEED_AUGMENTATION[case.augmentation])
            self.flow = generator.flow(self.x, self.y, batch_size=self.batch_size, seed=config.seed)

    def epoch(self) -> None:
        if self.flow is None:
            self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, verbose=0)
        else:
            self.model.fit(self.flow, steps_per_epoch=self.steps, epochs=1, verbose=0)

    def info(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size}


class TorchPipeline:
    """The same architecture in plain PyTorch, channels_last."""

    def __init__(self, case: Case, x: np.ndarray, y: np.ndarray, **_: Any) -> None:
        from benchmarks import torch_models

        config = run_config(case)
        kwargs = config.model_kwargs
        if config.architecture == "simple_cnn":
            model = torch_models.simple_cnn(case.shape[2], size=case.shape[0])
        elif config.architecture == "vgg_blocks":
            model = torch_models.vgg_blocks(
                case.shape[2],
                batch_norm=kwargs.get("batch_norm", False),
                dropout=kwargs.get("dropout", 0.2),
                size=case.shape[0],
            )
        elif config.architecture == "transfer" and kwargs.get("freeze_base") and kwargs.get("base") == "vgg19":
            model = torch_models.FrozenBaseTransfer(batch_norm=kwargs.get("batch_norm", False), size=case.shape[0])
        else:  # pragma: no cover - every case above has a PyTorch twin
            raise ValueError(f"no PyTorch version of {config.architecture} {kwargs}")
        self.batch_size = config.batch_size
        self.trainer = torch_models.Trainer(
            model,
            x,
            y,
            batch_size=config.batch_size,
            optimizer=config.optimizer,
            learning_rate=config.resolved_learning_rate,
            augmentation=kwargs.get("augmentation"),
            seed=config.seed,
        )

    def epoch(self) -> None:
        self.trainer.epoch()

    def info(self) -> dict[str, Any]:
        import torch

        return {"batch_size": self.batch_size, "torch": torch.__version__, "threads": torch.get_num_threads()}


def _make(pipeline: str, case: Case, x: np.ndarray, y: np.ndarray, overrides: dict[str, Any]):
    makers = {
        "project": KerasProject,
        "fused_bn": KerasProjectFusedBN,
        "validated": KerasProjectValidated,
        "seed": KerasSeed,
        "torch": TorchPipeline,
    }
    return makers[pipeline](case, x, y, **overrides)


def serve(pipeline: str) -> None:
    """The worker loop: requests on stdin, one JSON answer per request on the original stdout."""
    import time

    # Libraries print to stdout (Keras progress, absl): keep the protocol on a private copy of fd 1.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    if pipeline == "torch":
        import torch  # noqa: F401  (fail now, not at the first case)
    current = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "prepare":
                case = CASES[request["case"]]
                x, y = random_data(case, request["steps"] * request["batch_size"])
                current = _make(pipeline, case, x, y, request.get("project_overrides", {}))
                start = time.perf_counter()
                for _ in range(request["warmup_epochs"]):
                    current.epoch()
                answer = {"warmup_s": time.perf_counter() - start, **current.info()}
            elif op == "time":
                before, start = os.times(), time.perf_counter()
                current.epoch()
                seconds, after = time.perf_counter() - start, os.times()
                cpu = (after.user - before.user) + (after.system - before.system)
                answer = {"seconds": seconds, "cpu_seconds": cpu}
            elif op == "matmul":
                from benchmarks.flops import tensorflow_matmul_gflops

                answer = {"gflops": tensorflow_matmul_gflops(request["n"], request["repeats"])}
            elif op == "release":
                current = None
                import gc

                gc.collect()
                answer = {}
            elif op == "quit":
                return
            else:
                raise ValueError(f"unknown op {op!r}")
            protocol.write(json.dumps({"ok": True, **answer}) + "\n")
        except Exception as exc:  # reported to the coordinator, which names the pipeline and the case
            import traceback

            traceback.print_exc()
            protocol.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
