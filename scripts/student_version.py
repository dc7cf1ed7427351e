#!/usr/bin/env python
"""Write student versions of notebooks: the cells tagged `solution` removed, every output cleared.

    scripts/student_version.py notebooks/0*.ipynb -o student/

Each notebook is written atomically under the same file name in the output folder, which must not be the
folder the notebook came from (that would overwrite the source, solutions included). See lab_utils.exercises
for the exercise-cell convention; run_all.sh writes them to build/<profile>/student/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab_utils.errors import ConfigError
from lab_utils.run.student import write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="source notebooks (.ipynb)")
    parser.add_argument("-o", "--out-dir", required=True, type=Path, help="folder for the student versions")
    args = parser.parse_args(argv)
    try:
        written = write_student_versions(args.notebooks, args.out_dir)
    except ConfigError as exc:
        print(f"student_version: {exc}", file=sys.stderr)
        return 2
    for target in written:
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
