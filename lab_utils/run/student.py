"""Student versions of the notebooks: each solution folded into a "Solution" block the student opens on purpose,
every output cleared.

The exercise-cell convention is in lab_utils.exercises. A solution cell (tagged `solution`) becomes a Markdown cell
holding its code inside `<details>`: JupyterLab, Colab and Kaggle render it closed, so no answer shows until the
student clicks it, and Run All executes no solution. `scripts/student_version.py` writes them; the committed copies
in notebooks/student/ are what the README's Colab and Kaggle links open, and run_all.sh writes them to
build/<profile>/student/.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor

from lab_utils.atomic import atomic_write_text
from lab_utils.errors import ConfigError

SOLUTION_TAG = "solution"
STUDENT_DIR = "student"  # below notebooks/: the versions the Colab and Kaggle links open


def folded_solution(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A solution code cell as a closed Markdown `<details>` block with the same code (same cell id)."""
    text = f"<details><summary>Solution (click to open)</summary>\n\n```python\n{cell.source}\n```\n\n</details>"
    folded = nbformat.v4.new_markdown_cell(text, metadata={"tags": [SOLUTION_TAG]})
    if "id" in cell:
        folded["id"] = cell["id"]
    return folded


def student_version(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its solutions folded and no outputs (a new object; the argument is left alone)."""
    notebook = nbformat.from_dict(notebook)  # deep copy: the preprocessor edits in place
    notebook.cells = [
        folded_solution(c) if c.cell_type == "code" and SOLUTION_TAG in c.metadata.get("tags", []) else c
        for c in notebook.cells
    ]
    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})
    return notebook


def write_student_versions(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write each notebook's student version into `out_dir`; return the paths written."""
    out_dir = out_dir.resolve()
    for path in notebooks:
        if not path.is_file():
            raise ConfigError(f"no notebook at {path}")
        if path.resolve().parent == out_dir:
            raise ConfigError(
                f"{out_dir} holds the source {path.name}; writing there would overwrite it: pass another folder (-o)"
            )
    written = []
    for path in notebooks:
        target = out_dir / path.name
        atomic_write_text(target, student_text(path))
        written.append(target)
    return written


def student_text(path: Path) -> str:
    """The student version of the notebook at `path`, as the file's text."""
    return nbformat.writes(student_version(nbformat.read(path, as_version=4))) + "\n"


def stale_student_versions(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """The student versions in `out_dir` that are missing or differ from what their sources give now."""
    return [
        out_dir / p.name
        for p in notebooks
        if not (out_dir / p.name).is_file() or (out_dir / p.name).read_text(encoding="utf-8") != student_text(p)
    ]
