"""Student versions of the notebooks: the cells tagged `solution` removed, every output cleared.

The exercise-cell convention is in lab_utils.exercises. `run_all.sh` writes them to build/<profile>/student/;
`scripts/student_version.py` writes them anywhere.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

from lab_utils.atomic import atomic_write_text
from lab_utils.errors import ConfigError

SOLUTION_TAG = "solution"


def student_version(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its solution cells and outputs (a new object; the argument is left alone)."""
    notebook = nbformat.from_dict(notebook)  # deep copy: the preprocessors edit in place
    remove = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True)
    notebook, _ = remove.preprocess(notebook, {})
    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})
    return notebook


def write_student_versions(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write each notebook's student version into `out_dir`; return the paths written."""
    out_dir = out_dir.resolve()
    for path in notebooks:
        if not path.is_file():
            raise ConfigError(f"no notebook at {path}")
        if path.resolve().parent == out_dir:
            raise ConfigError(f"{out_dir} holds the source {path.name}; writing there would overwrite it: pass "
                              "another folder (-o)")
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        atomic_write_text(target, nbformat.writes(student_version(notebook)) + "\n")
        written.append(target)
    return written
