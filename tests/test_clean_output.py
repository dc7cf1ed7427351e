"""No noise: the executed notebooks and run_all.sh's log hold what a student should read, and nothing else.

TensorFlow's start-up lines, Keras's optimizer warning on cached runs and ipykernel's TCP warning are stopped at
their source (lab_utils.quiet, training.build.build_and_compile, run.execute._ipc_kernel); a real warning would still
show.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from lab_utils.run.runner import NOTEBOOKS

# Text that means a warning or an error, in any output of any cell.
NOISE = re.compile(r"Warning|WARNING|[EWF]\d{4} \d\d:\d\d|Traceback|cuInit|absl::|without encryption")
# Deliberate output on stderr: none today. A test that needs one lists it here with the reason.
DELIBERATE: tuple[str, ...] = ()


def _outputs(notebook: nbformat.NotebookNode) -> list[tuple[int, dict]]:
    return [(i, o) for i, c in enumerate(notebook.cells) if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(output: dict) -> str:
    data = output.get("data", {})
    return output.get("text", "") + data.get("text/plain", "") + data.get("text/markdown", "")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executed_notebooks_have_no_stderr_and_no_warning_text(smoke: Path, name: str) -> None:
    notebook = nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4)
    stderr = [
        (i, o["text"])
        for i, o in _outputs(notebook)
        if o.get("name") == "stderr" and not any(d in o["text"] for d in DELIBERATE)
    ]
    assert not stderr, stderr
    noisy = [
        (i, m.group(0), _text(o)[:300])
        for i, o in _outputs(notebook)
        if (m := NOISE.search(_text(o).replace("def ", "")))
    ]
    assert not noisy, noisy


def test_run_all_prints_one_line_per_notebook_and_per_training_run(smoke: Path) -> None:
    stdout, stderr = (smoke / "run_all.stdout").read_text(), (smoke / "run_all.stderr").read_text()
    assert "without encryption" not in stdout + stderr
    assert "Executing:" not in stdout + stderr  # papermill's cell bar is off
    assert not re.search(r"[EWI]0000 |absl::InitializeLog", stdout + stderr)
    assert len(re.findall(r"^run_all: \S+ done in \d+ s", stdout, re.M)) == len(NOTEBOOKS)
    # The smoke run trains every catalogued run on its 2 workers first: one line each, naming the worker.
    trained = re.findall(
        r"^run_all:   trained (\w+): \d+ epoch\(s\).*test accuracy [\d.]+ %(?: \(was in the cache\))?"
        r" \[\S+ pid \d+\]$",
        stdout,
        re.M,
    )
    assert "cifar_vgg_bn" in trained and len(trained) == len(set(trained)) >= 20


def test_a_real_warning_still_shows(tmp_path: Path) -> None:
    """The filter is narrow: a C-level line that is not TensorFlow's start-up chatter is written back."""
    import os
    import subprocess
    import sys

    code = (
        "from lab_utils.quiet import filtered_stderr, startup_noise\n"
        "import os\n"
        "with filtered_stderr(startup_noise()):\n"
        "    os.write(2, b'W0000 00:00:0.0 1 real.cc:1] a real warning\\n')\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() "
        "is called are written to STDERR\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert "a real warning" in result.stderr and "InitializeLog" not in result.stderr


def test_only_the_retracing_false_alarm_is_dropped_from_tensorflows_python_log(caplog) -> None:
    import logging

    import lab_utils  # noqa: F401 (installs the filter)

    log = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        log.warning("5 out of the last 17 calls to <function f at 0x1> triggered tf.function retracing. ...")
        log.warning("`foo` is deprecated and will be removed in a future version")
    assert [r.getMessage() for r in caplog.records] == ["`foo` is deprecated and will be removed in a future version"]
