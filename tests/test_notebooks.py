"""The notebooks, run for real: `./run_all.sh --profile smoke` on the mini data, and the source notebooks' hygiene."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import nbformat
import papermill
import pytest
from bs4 import BeautifulSoup

from lab_utils.data.augment import preset_for_paper_name
from lab_utils.report.outputs import ALL_FIGURES, TABLES
from lab_utils.report.paper import PAPER_RESULTS
from lab_utils.report.tables import format_cell, read_table
from lab_utils.run.runner import NOTEBOOK_OWN_PARAMETERS, NOTEBOOKS, NOTEBOOKS_DIR, notebook_parameters, parse_args
from lab_utils.training.records import RECORD_FILE

from .helpers import run_all

KERAS_IMPORT = re.compile(r"^\s*(from|import) (keras|lab_utils|tensorflow|jax)\b", re.M)


def paper_rows(table: str) -> list[tuple[str, ...]]:
    """The rows of the paper's table that we reproduce: every one, but Table III's rows for an augmentation set
    the paper does not name (lab_utils.data.augment has no preset for it)."""
    paper = PAPER_RESULTS[table]
    if isinstance(paper, dict):
        return [(network,) for network in paper]
    return [(row["network"], row["augmentation"]) for row in paper if preset_for_paper_name(row["augmentation"])]


def row_key(row: dict) -> tuple[str, ...]:
    return (row["network"], row["augmentation"]) if "augmentation" in row else (row["network"],)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_executed_without_error(smoke: Path, name: str) -> None:
    executed = nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a cell did not run"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'profile = "smoke"' in injected[0].source


@pytest.mark.parametrize("figure", [f.name for f in ALL_FIGURES])
def test_every_figure_is_a_real_image_with_content(smoke: Path, figure: str) -> None:
    image = mpimg.imread(smoke / "figures" / f"{figure}.png")
    assert image.ndim == 3 and min(image.shape[:2]) >= 100
    assert image[..., :3].std() > 0.05, "the figure is (nearly) blank"


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_table_has_all_rows_with_numbers_and_the_papers_column(smoke: Path, table: str) -> None:
    rows = read_table(smoke / "tables" / f"{table}.csv")
    assert [row_key(row) for row in rows] == paper_rows(table)  # a row of ours for every row of the paper's
    ours = [k for k in rows[0] if k.startswith("reproduced")]
    paper = [k for k in rows[0] if k.startswith("paper")]
    assert ours and paper
    for row in rows:
        assert isinstance(row.get("reproduced_seeds", 1), int) and row.get("reproduced_seeds", 1) >= 1, row
        percents = [k for k in ours if k not in ("reproduced_gain", "reproduced_seeds")]
        assert all(isinstance(row[k], float) and 0 <= row[k] <= 100 for k in percents), row
        assert any(isinstance(row[k], float) for k in paper), row
        assert row["profile"] == "smoke"
    markdown = (smoke / "tables" / f"{table}.md").read_text()
    assert markdown.count("\n|") >= len(rows) + 2 and "profile: smoke" in markdown


def html_tables(html: str) -> list[list[list[str]]]:
    """Every table of an HTML page: its rows, each the text of its cells."""
    soup = BeautifulSoup(html, "html.parser")
    return [
        [[cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"])] for row in table.find_all("tr")]
        for table in soup.find_all("table")
    ]


def markdown_cells(markdown: str) -> list[list[str]]:
    """The rows of a pipe table, each the text of its cells, without the alignment row."""
    rows = [line.strip().strip("|").split(" | ") for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip().replace(r"\|", "|") for cell in row] for row in rows if not set("".join(row)) <= set("-: |")]


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_html_report_shows_our_numbers_in_every_table(smoke: Path, table: str) -> None:
    """The report's tables are this run's: each row's reproduced accuracies, read from tables/<name>.csv, are in
    the matching row of report.html (the paper's numbers are there whether or not we ran anything)."""
    html = (smoke / "build" / "report.html").read_text()
    assert html.count("data:image/png;base64") >= len(ALL_FIGURES)
    markdown = markdown_cells((smoke / "tables" / f"{table}.md").read_text())
    assert markdown in html_tables(html), f"{table}.md is not shown as a table of report.html"
    for row, shown in zip(read_table(smoke / "tables" / f"{table}.csv"), markdown[1:], strict=True):
        ours = [
            format_cell(value)
            for key, value in row.items()
            if key.startswith("reproduced") and isinstance(value, float)
        ]
        assert ours and all(value in shown for value in ours), (row, shown)


def test_rerun_loads_every_model_from_the_run_cache(smoke: Path, mini: Path, tmp_path: Path) -> None:
    """Notebook 02 again, into a folder of its own with a copy of the cache: nothing trained, the same Table I."""
    shutil.copytree(smoke / "runs", tmp_path / "runs", copy_function=os.link)  # runs are replaced, never edited
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob(f"*/{RECORD_FILE}")}
    result = run_all(tmp_path, "--profile", "smoke", "--data-dir", str(mini), "--only", "02", "--no-html")
    assert result.returncode == 0, result.stderr[-2000:]
    executed = nbformat.read(tmp_path / "build" / "02_cifar10_cnn.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "loaded from the run cache" in text and ": trained (" not in text
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob(f"*/{RECORD_FILE}")} == before
    for name in ("table1.csv", "table1.md"):
        assert (tmp_path / "tables" / name).read_bytes() == (smoke / "tables" / name).read_bytes(), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_source_notebooks_are_clean_with_one_parameters_cell(name: str) -> None:
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs"
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    first_import = next(
        i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and KERAS_IMPORT.search(c.source)
    )
    assert tagged[0] < first_import, "the parameters cell must come before keras/lab_utils are imported"
    declared = set(papermill.inspect_notebook(str(path)))
    injected = set(notebook_parameters(parse_args([]), "smoke"))
    assert injected <= declared, "the notebook and run_all.sh disagree"
    assert declared - injected <= NOTEBOOK_OWN_PARAMETERS, "a parameter run_all.sh neither sets nor knows"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith(f"# {name[:2]} ·")
    assert "How to use this notebook" in notebook.cells[0].source
    assert "sys.exit" not in json.dumps(notebook)
