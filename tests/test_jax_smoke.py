"""The README's GPU command on the JAX backend, end to end: `KERAS_BACKEND=jax ./run_all.sh --profile smoke`.

GPU machines run the report on JAX (no TensorFlow there); this keeps the notebooks, figures and tables working on
that backend (here on the CPU), with notebooks as clean as on TensorFlow, and the runs trained by Dask workers.

JAX on this 2-core CPU is slow for the transfer models (XLA:CPU convolutions: VGG19 with a frozen base takes 15 s
per 480-image epoch once compiled): the whole JAX smoke took 561 s sequentially and 820 s with `--workers 2`
(20 runs in 649 s), more than CI's 25 minutes leave beside the rest. CI runs notebooks 00-02 (the MNIST table,
Table I, figures 1-5 and 7-9) with `--workers 2`; `LAB_FULL_JAX_SMOKE=1 ./run_tests.sh tests/test_jax_smoke.py`
runs all six and checks every figure and table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lab_utils.report.outputs import FIGURES, TABLES
from lab_utils.run.runner import NOTEBOOKS
from lab_utils.training.records import RECORD_FILE

from .helpers import run_all, smoke_options
from .test_clean_output import test_executed_notebooks_have_no_stderr_and_no_warning_text as check_clean
from .test_notebooks import test_every_figure_is_a_real_image_with_content as check_figure
from .test_notebooks import test_every_notebook_executed_without_error as check_executed
from .test_notebooks import test_every_table_has_all_rows_with_numbers_and_the_papers_column as check_table

pytestmark = pytest.mark.e2e  # the JAX backend, run_all.sh and papermill

FULL = bool(os.environ.get("LAB_FULL_JAX_SMOKE"))
SELECTED = NOTEBOOKS if FULL else NOTEBOOKS[:3]


@pytest.fixture(scope="module")
def jax_smoke(tmp_path_factory, mini: Path) -> Path:
    out = tmp_path_factory.mktemp("jax_smoke")
    only = [] if FULL else [arg for name in SELECTED for arg in ("--only", name)]
    # --no-html: the HTML report and site do not depend on the backend (the TensorFlow smoke run checks them)
    result = run_all(
        out, *smoke_options(mini, "--workers", "2", "--no-html", *only), env={**os.environ, "KERAS_BACKEND": "jax"}
    )
    (out / "run_all.stdout").write_text(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Keras backend jax" in result.stdout
    return out


@pytest.mark.parametrize("name", SELECTED)
def test_every_notebook_runs_clean_on_jax(jax_smoke: Path, name: str) -> None:
    check_executed(jax_smoke, name)
    check_clean(jax_smoke, name)


def test_every_figure_and_table_of_the_notebooks_is_made_on_jax(jax_smoke: Path) -> None:
    made = {p.stem for p in (jax_smoke / "figures").glob("*.png")}
    figures = [f.name for f in FIGURES] if FULL else sorted(made)
    assert FULL or len(figures) >= 8, made  # 00-02 make figures 1-5 and 7-9
    for figure in figures:
        check_figure(jax_smoke, figure)
    tables = [t.name for t in TABLES] if FULL else ["mnist", "table1"]
    for table in tables:
        check_table(jax_smoke, table)


def test_every_run_was_trained_by_jax_with_xla(jax_smoke: Path) -> None:
    records = [json.loads(p.read_text()) for p in (jax_smoke / "runs").glob(f"*/{RECORD_FILE}")]
    assert len(records) >= (20 if FULL else 6)
    assert {r["backend"] for r in records} == {"jax"} and all(r["jit_compile"] for r in records)
