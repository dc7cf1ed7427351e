"""The notebooks, run for real: `./run_all.sh --profile smoke` on the mini data, and the source notebooks' hygiene."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import nbformat
import papermill
import pytest

from lab_utils.report.outputs import FIGURES, TABLES
from lab_utils.report.tables import read_table
from lab_utils.run.runner import NOTEBOOKS, NOTEBOOKS_DIR

from .helpers import run_all

RUNNER_PARAMETERS = {"profile", "data_dir", "figures_dir", "tables_dir", "runs_dir", "seed", "epochs"}
TABLE_ROWS = {"mnist": 2, "table1": 4, "table2": 3, "table3": 9}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_executed_without_error(smoke: Path, name: str) -> None:
    executed = nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a cell did not run"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "profile = \"smoke\"" in injected[0].source


@pytest.mark.parametrize("figure", [f.name for f in FIGURES])
def test_every_figure_is_a_real_image_with_content(smoke: Path, figure: str) -> None:
    image = mpimg.imread(smoke / "figures" / f"{figure}.png")
    assert image.ndim == 3 and min(image.shape[:2]) >= 100
    assert image[..., :3].std() > 0.05, "the figure is (nearly) blank"


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_table_has_all_rows_with_numbers_and_the_papers_column(smoke: Path, table: str) -> None:
    rows = read_table(smoke / "tables" / f"{table}.csv")
    assert len(rows) == TABLE_ROWS[table]
    ours = [k for k in rows[0] if k.startswith("reproduced")]
    paper = [k for k in rows[0] if k.startswith("paper")]
    assert ours and paper
    for row in rows:
        assert all(isinstance(row[k], float) and 0 <= row[k] <= 100 for k in ours if k != "reproduced_gain"), row
        assert any(isinstance(row[k], float) for k in paper), row
        assert row["profile"] == "smoke"
    markdown = (smoke / "tables" / f"{table}.md").read_text()
    assert markdown.count("\n|") >= len(rows) + 2 and "profile: smoke" in markdown


def test_html_report_embeds_the_figures_and_tables(smoke: Path) -> None:
    html = (smoke / "build" / "report.html").read_text()
    assert html.count("data:image/png;base64") >= len(FIGURES)
    assert "Table III" in html and "84.42" in html


def test_rerun_loads_every_model_from_the_run_cache(smoke: Path, mini: Path) -> None:
    before = sorted(p.name for p in (smoke / "runs").iterdir())
    result = run_all(smoke, "--profile", "smoke", "--data-dir", str(mini), "--only", "02", "--no-html")
    assert result.returncode == 0, result.stderr[-2000:]
    executed = nbformat.read(smoke / "build" / "02_cifar10_cnn.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "loading cached run" in text and ": training (" not in text
    assert sorted(p.name for p in (smoke / "runs").iterdir()) == before


def test_a_failing_notebook_stops_the_run_and_is_named(tmp_path: Path) -> None:
    (tmp_path / "data" / "mnist").mkdir(parents=True)  # an empty dataset folder: loading must fail
    result = run_all(tmp_path, "--profile", "smoke", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert "FAILED in notebook 00_data_exploration, cell" in result.stderr
    assert "DatasetError" in result.stderr
    assert not (tmp_path / "build" / "00_data_exploration.ipynb").exists()
    assert (tmp_path / "build" / "00_data_exploration.failed.ipynb").exists()
    assert not (tmp_path / "build" / "01_mnist_cnn.failed.ipynb").exists()  # stopped at the first failure
    assert not list((tmp_path / "figures").glob("*.png"))


@pytest.mark.parametrize("args, message", [
    (["--only", "07_nonsense"], "unknown notebook '07_nonsense'"),
    (["--data-dir", "/nonexistent/data"], "--data-dir /nonexistent/data does not exist"),
])
def test_bad_arguments_fail_fast_with_one_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_all(tmp_path, "--profile", "smoke", *args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "build").exists() or not any((tmp_path / "build").iterdir())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_notebooks_are_clean_with_one_parameters_cell(name: str) -> None:
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    first_import = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "import" in c.source)
    assert tagged[0] < first_import, "the parameters cell must come before keras/lab_utils are imported"
    declared = set(papermill.inspect_notebook(str(path)))
    assert declared == RUNNER_PARAMETERS
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith(f"# {name[:2]} ·")
    assert "How to use this notebook" in notebook.cells[0].source
    assert "sys.exit" not in json.dumps(notebook)
