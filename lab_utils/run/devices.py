"""Which accelerator is there, and which backend can use it: so a GPU machine never falls back to the CPU silently.

`python -m lab_utils.run.devices` prints one line (scripts/bootstrap.sh runs it after installing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

GPU_FIX = (
    "LAB_DEVICE=gpu ./run_all.sh ... reinstalls .venv with the gpu extra (tensorflow[and-cuda], "
    "jax[cuda12]), which brings the CUDA libraries"
)


def nvidia_gpus() -> list[str]:
    """The GPUs the NVIDIA driver lists (`nvidia-smi -L`), or [] when there is no driver or no GPU."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.startswith("GPU ")]


def no_accelerator_cause(backend: str) -> str:
    """Why `backend` sees no accelerator, and the fix: no GPU at all, or a GPU the installed build cannot use."""
    gpus = nvidia_gpus()
    if gpus:
        return (
            f"the NVIDIA driver lists {len(gpus)} GPU(s) ({gpus[0]}) but the {backend} backend sees none: it "
            f"was installed without CUDA. Fix: {GPU_FIX}"
        )
    return (
        f"this machine has no GPU that the {backend} backend can see (nvidia-smi lists none). Fix: run on a GPU machine"
    )


_PROBES = {
    "tensorflow": "import tensorflow as tf; print(', '.join(d.name for d in tf.config.list_physical_devices()))",
    "jax": "import jax; print(', '.join(f'{d.platform}:{d.device_kind}' for d in jax.devices()))",
}


def backend_devices(backend: str) -> str:
    """The devices `backend` sees, probed in a child process (each backend claims the GPU once imported)."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBES[backend]],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **env},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"not probed ({exc})"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"not importable ({last})"
    return out.stdout.strip() or "no device"


def summary() -> str:
    """One line: what each installed backend sees, and what the driver lists."""
    seen = "; ".join(f"{name} sees {backend_devices(name)}" for name in _PROBES)
    gpus = nvidia_gpus()
    more = f" (+{len(gpus) - 1})" if len(gpus) > 1 else ""
    return f"devices: {seen}; nvidia-smi: {gpus[0] if gpus else 'no GPU'}{more}"


if __name__ == "__main__":
    print(f"bootstrap: {summary()}", file=sys.stderr)
