#!/usr/bin/env python
"""Write student versions of notebooks: each solution folded into a closed "Solution" block, outputs cleared.

    scripts/student_version.py notebooks/0*.ipynb -o notebooks/student/           # what the Colab links open
    scripts/student_version.py notebooks/0*.ipynb -o notebooks/student/ --check   # exit 1 if one is stale

Each notebook is written atomically under the same file name in the output folder, which must not be the
folder the notebook came from (that would overwrite the source, solutions included). See lab_utils.exercises
for the exercise-cell convention; run_all.sh writes them to build/<profile>/student/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab_utils.errors import ConfigError
from lab_utils.run.student import stale_student_versions, write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="source notebooks (.ipynb)")
    parser.add_argument("-o", "--out-dir", required=True, type=Path, help="folder for the student versions")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a version is missing or stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_student_versions(args.notebooks, args.out_dir)
        for path in stale:
            print(f"out of date: {path} (run without --check to write it)")
        return 1 if stale else 0
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
