"""TensorFlow's start-up chatter, filtered at its one source: the `import tensorflow` of this process.

TF 2.21 logs through C++ abseil and never calls `absl::InitializeLog`, so messages written by its static
initialisers go straight to fd 2, before `TF_CPP_MIN_LOG_LEVEL` is applied (xla/tsl/platform/logging.cc runs
after port.cc's oneDNN line and cudart_stub.cc's CUDA probe; abseil reads no environment variable). ipykernel
forwards fd 2 into the notebook, so a student saw pink boxes with "E0000 ... failed call to cuInit" on every
machine without a GPU. Here the import runs with fd 2 captured, and every captured line is written back except
those known lines: the oneDNN notice always, the "no CUDA" lines only where the machine has no NVIDIA driver
(where one exists, they mean something is wrong and stay visible). Nothing else is hidden.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

_PREFIX = r"[IWE]\d{4} \d\d:\d\d:[\d.]+\s+\d+ "
_ALWAYS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    _PREFIX + r"port\.cc:\d+\] oneDNN custom operations are on\. ",
)
_NO_DRIVER = (
    _PREFIX + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.",
    _PREFIX + r"cuda_platform\.cc:\d+\] failed call to cuInit: ",
)


def nvidia_driver_present() -> bool:
    """Whether the NVIDIA kernel driver is loaded (no subprocess, no CUDA call): its device files exist."""
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg"))


def startup_noise() -> re.Pattern[str]:
    """The lines TensorFlow writes at import that are not the user's business on this machine."""
    patterns = _ALWAYS + (() if nvidia_driver_present() else _NO_DRIVER)
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern[str]) -> Iterator[None]:
    """Capture fd 2 (C/C++ stderr) while the block runs, then write back every line that is not `noise`."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not noise.match(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _NotRetracing(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls to <function ...> triggered tf.function retracing".

    Its detector counts traces per code location, not per model: a notebook that trains several models (each
    with its own train function, all from Keras's one `multi_step_on_iterator`) trips it although no function
    is retraced needlessly. Every other TensorFlow warning passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def drop_retracing_alarm() -> None:
    """Install the _NotRetracing filter on TensorFlow's Python logger, once (the logger exists before TF does)."""
    log = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NotRetracing) for f in log.filters):
        log.addFilter(_NotRetracing())


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (when installed and not imported yet) with its start-up lines filtered.

    Under every backend: Keras imports TF anyway (keras.utils.set_random_seed does). With the TensorFlow backend
    the devices are listed inside the filter too, which runs TF's one cuInit (its result is cached) without
    starting the runtime, so virtual CPU devices can still be configured afterwards.
    """
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    # INFO lines (e.g. cpu_feature_guard's "rebuild TensorFlow with ...") never ask the user to act; warnings
    # and errors still show. run_all.sh and the cnn-lab kernel set 2, as before.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    with filtered_stderr(startup_noise()):
        import tensorflow as tf

        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            tf.config.list_physical_devices()
    drop_retracing_alarm()


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Runs `import_tensorflow_quietly` just before the process first imports Keras or TensorFlow, then steps aside."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name in ("keras", "tensorflow") and "tensorflow" not in sys.modules:
            sys.meta_path.remove(self)
            import_tensorflow_quietly()
        return None  # the usual finders import the module


def quiet_on_first_import() -> None:
    """Filter TensorFlow's start-up lines whenever lab_utils' code first imports Keras, without importing it now
    (`import lab_utils` stays light: the batch runner and its workers load TensorFlow only when a run needs it)."""
    drop_retracing_alarm()  # also when TensorFlow was imported before lab_utils
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())
