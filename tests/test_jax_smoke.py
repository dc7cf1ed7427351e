"""The README's GPU command on the JAX backend, end to end: `KERAS_BACKEND=jax ./run_all.sh --profile smoke`.

GPU machines run the report on JAX (no TensorFlow there); this keeps every notebook, figure and table working on
that backend (here on the CPU), with notebooks as clean as on TensorFlow.

Two settings keep it inside CI's time, both measured here: `--workers 2` (the runs trained by 2 Dask workers on
JAX, then the notebooks on JAX load them; sequential TF smoke 295 s → 244 s) and XLA's CPU optimisation level 0
(compiling dominates a 1-epoch run on JAX: notebook 02 took 58 s → 40 s; the whole sequential JAX smoke 561 s).
Neither changes which code runs; the GPU machines compile with XLA's defaults.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lab_utils.report.outputs import FIGURES, TABLES
from lab_utils.run.runner import NOTEBOOKS
from lab_utils.training.records import RECORD_FILE

from .helpers import run_all
from .test_clean_output import test_executed_notebooks_have_no_stderr_and_no_warning_text as check_clean
from .test_notebooks import test_every_figure_is_a_real_image_with_content as check_figure
from .test_notebooks import test_every_notebook_executed_without_error as check_executed
from .test_notebooks import test_every_table_has_all_rows_with_numbers_and_the_papers_column as check_table


@pytest.fixture(scope="module")
def jax_smoke(tmp_path_factory, mini: Path) -> Path:
    out = tmp_path_factory.mktemp("jax_smoke")
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_backend_optimization_level=0"}
    result = run_all(out, "--profile", "smoke", "--data-dir", str(mini), "--workers", "2", env=env)
    (out / "run_all.stdout").write_text(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Keras backend jax" in result.stdout
    return out


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_runs_clean_on_jax(jax_smoke: Path, name: str) -> None:
    check_executed(jax_smoke, name)
    check_clean(jax_smoke, name)


def test_every_figure_and_table_is_made_on_jax(jax_smoke: Path) -> None:
    for figure in FIGURES:
        check_figure(jax_smoke, figure.name)
    for table in TABLES:
        check_table(jax_smoke, table.name)
    assert (jax_smoke / "build" / "report.html").is_file() and (jax_smoke / "build" / "site" / "index.html").is_file()


def test_every_run_was_trained_by_jax_with_xla(jax_smoke: Path) -> None:
    records = [json.loads(p.read_text()) for p in (jax_smoke / "runs").glob(f"*/{RECORD_FILE}")]
    assert len(records) >= 20
    assert {r["backend"] for r in records} == {"jax"} and all(r["jit_compile"] for r in records)
