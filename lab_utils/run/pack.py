"""The command line of a class's run cache (lab_utils.training.archive): pack runs/ into a zip, or load one.

python -m lab_utils.run.pack runs/ -o class-runs.zip        # teacher, after run_all.sh
python -m lab_utils.run.pack --load class-runs.zip          # student: into runs/ (or --runs-dir, LAB_RUNS_DIR)
"""

from __future__ import annotations

import argparse
import os
import sys

from lab_utils import settings
from lab_utils.errors import ConfigError
from lab_utils.paths import display_path, resolve, runs_dir
from lab_utils.training.archive import complete_runs, pack, unpack


def main(argv: list[str] | None = None) -> int:
    """The command line: pack a run cache, or --load an archive into one."""
    parser = argparse.ArgumentParser(prog="python -m lab_utils.run.pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", help="the run cache to pack, e.g. runs/")
    parser.add_argument("-o", "--output", help="the archive to write, e.g. class-runs.zip")
    parser.add_argument("--load", metavar="ARCHIVE", help="unpack ARCHIVE into the run cache instead")
    parser.add_argument("--runs-dir", help="with --load: where to unpack (default runs/ or LAB_RUNS_DIR)")
    args = parser.parse_args(argv)
    settings.export_default("LAB_CALLER_DIR", os.getcwd())  # relative paths start where the command was typed
    try:
        if args.load:
            added = unpack(args.load, args.runs_dir)
            print(f"{len(added)} runs added to {display_path(args.runs_dir or runs_dir())}")
        elif args.runs and args.output:
            runs = complete_runs(resolve(args.runs))
            print(f"{len(runs)} runs packed into {display_path(pack(args.runs, args.output))}")
        else:
            parser.error("give RUNS -o ARCHIVE to pack, or --load ARCHIVE to unpack")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
