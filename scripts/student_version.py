#!/usr/bin/env python
"""Write student versions of notebooks: the cells tagged `solution` removed, every output cleared.

    scripts/student_version.py notebooks/0*.ipynb -o student/

Each notebook is written atomically under the same file name in the output folder, which must not be the
folder the notebook came from (that would overwrite the source, solutions included). See lab_utils.exercises
for the exercise-cell convention.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

from lab_utils.atomic import atomic_write_text

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
            raise SystemExit(f"student_version: no notebook at {path}")
        if path.resolve().parent == out_dir:
            raise SystemExit(f"student_version: {out_dir} holds the source {path.name}; writing there would "
                             "overwrite it — pass another folder with -o")
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        atomic_write_text(target, nbformat.writes(student_version(notebook)) + "\n")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="source notebooks (.ipynb)")
    parser.add_argument("-o", "--out-dir", required=True, type=Path, help="folder for the student versions")
    args = parser.parse_args(argv)
    for target in write_student_versions(args.notebooks, args.out_dir):
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
