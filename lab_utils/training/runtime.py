"""What we are running on: the Keras backend, the accelerator, and the compile mode that is fast there."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import keras
import numpy as np

from lab_utils.paths import PROJECT_ROOT


def backend_name() -> str:
    """The active Keras backend ("tensorflow", "jax" or "torch"), fixed when keras is first imported."""
    return keras.backend.backend()


@functools.cache
def accelerator() -> str | None:
    """The first GPU/TPU the backend sees, or None on a CPU-only machine."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"{details.get('device_name', 'GPU')} ×{len(gpus)}"
    if backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        return f"{devices[0].device_kind} ×{len(devices)}" if devices else None
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} ×{torch.cuda.device_count()}"
    return None


def device_description() -> str:
    """A one-line description of the compute device for run records and notebook headers."""
    gpu = accelerator()
    if gpu:
        return gpu
    return f"CPU ({cpu_model() or platform.processor() or platform.machine()}, {_cpu_count()} cores)"


def cpu_model() -> str | None:
    """The CPU's model name and widest vector unit ("AMD EPYC, AVX2"), read from /proc/cpuinfo (Linux; else None):
    the same code runs 2.6–4× slower with AVX2 than with AVX-512, so every timing and tally names it."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return ", ".join(part for part in (name, isa) if part) or None


def default_jit_compile() -> bool:
    """Whether to XLA-compile the train step here.

    Measured: on a 2-core CPU, TensorFlow with XLA trains convnets ~3× slower than without (XLA:CPU
    convolutions skip oneDNN); on GPUs XLA is usually faster. JAX always compiles, so it gets True.
    """
    backend = backend_name()
    if backend == "jax":
        return True
    if backend == "tensorflow":
        return accelerator() is not None
    return False


def supports_bfloat16() -> bool:
    """Whether the accelerator computes in bfloat16 natively (NVIDIA compute capability 8.0+: A100, H100, ...)."""
    backend = backend_name()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
            return tuple(details.get("compute_capability", (0, 0))) >= (8, 0)
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            return bool(gpus) and float(getattr(gpus[0], "compute_capability", "0")) >= 8.0
        if backend == "torch":
            import torch

            return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    except (ValueError, RuntimeError):  # an unreadable capability means "don't risk it"
        return False
    return False


def default_mixed_precision() -> bool:
    """bf16 compute with float32 weights on GPUs that support it; never on a CPU (no speed-up there)."""
    return accelerator() is not None and supports_bfloat16()


def default_steps_per_execution() -> int:
    """Train steps per compiled call: 8 on every device (1 on the torch backend), to hide the host's per-step cost.

    Only per-batch callbacks see fewer calls; epochs, early stopping and the learned weights are unchanged (speed:
    benchmarks/README.md). Under a tf.distribute strategy 1: Keras's multi-step loop fails inside
    MirroredStrategy (tests/test_distribute.py).
    """
    if backend_name() == "torch":  # Keras's torch trainer runs one step per call (it refuses more)
        return 1
    if backend_name() == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy():
            return 1
    return 8


def make_deterministic() -> bool:
    """Turn on TensorFlow's deterministic ops on a CPU, so a seeded run reproduces bit for bit.

    Not on GPUs, where deterministic kernels cost speed (and XLA, which Keras then turns off); JAX on a CPU
    is deterministic already. Returns whether TF op determinism is on.
    """
    if backend_name() != "tensorflow" or accelerator() is not None:
        return False
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    return True


def cpu_threads() -> int:
    """Intra-op threads a run uses on the CPU: the configured count, TF_NUM_INTRAOP_THREADS, else the cores.

    Recorded with each run because TensorFlow's CPU kernels split reductions by this count: the same seeded run
    with 1 and with 2 threads differs in the last bits (measured: smoke VGG + BN, test accuracy 10.0 vs 11.0 %),
    while the cores it runs on do not matter (2 threads pinned to one core = 2 threads on two, bit for bit).
    So `run_all.sh --workers` keeps each run's thread count and splits the cores (lab_utils.run.cluster).
    """
    if backend_name() != "tensorflow":
        return _cpu_count()
    import os

    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    value = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    return int(configured) or (int(value) if value.isdigit() and int(value) > 0 else _cpu_count())


def versions() -> dict[str, str]:
    """Library versions worth recording beside a result."""
    found = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    backend = backend_name()
    try:
        module = __import__(backend)
        found[backend] = getattr(module, "__version__", "unknown")
    except ImportError:  # pragma: no cover - the backend was importable for keras
        pass
    return found


@functools.cache
def git_commit() -> str | None:
    """The project's current commit, so a record says which code produced it (None outside git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
