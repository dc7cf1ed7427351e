"""A teacher's run cache for a class: pack the finished runs into one zip, unpack it on a student's machine.

The command line is lab_utils.run.pack:

    python -m lab_utils.run.pack runs/ -o class-runs.zip        # teacher, after run_all.sh
    python -m lab_utils.run.pack --load class-runs.zip          # student: into runs/ (or --runs-dir, LAB_RUNS_DIR)

With the runs in place every notebook loads the weights and records instead of training, so a class executes every
cell in minutes. `LAB_RUNS_ARCHIVE=class-runs.zip` does the unpacking when a Lab (a Session) starts. Only
complete runs (record.json + model.weights.h5) travel, with a manifest of SHA-256 digests; unpacking refuses any
member outside that shape (absolute paths, `..`, links, unknown files) and any digest that does not match.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from pathlib import Path

from lab_utils.atomic import atomic_dir, atomic_path
from lab_utils.errors import ConfigError
from lab_utils.paths import display_path, resolve, runs_dir

# The two files of a run, as lab_utils.training.records names them (not imported: that would load Keras and a
# backend, seconds, for a command that only copies files; tests/test_pack.py checks they agree).
RECORD_FILE, WEIGHTS_FILE = "record.json", "model.weights.h5"
MANIFEST = "lab-runs.json"
FORMAT = 1
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")  # what records.run_dir writes: experiment-key
MEMBER = re.compile(rf"({RUN_NAME.pattern})/({re.escape(RECORD_FILE)}|{re.escape(WEIGHTS_FILE)})")
MAX_BYTES = 4 << 30  # the whole full-profile cache is a few hundred MB; more is not a run cache


def _sha256(path: Path) -> str:
    """Hex digest of a file (run files are at most a few hundred MB: one read)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def complete_runs(folder: Path) -> list[Path]:
    """The run folders holding both files, no links anywhere (a link could carry any file into the archive)."""
    if not folder.is_dir():
        raise ConfigError(f"{display_path(folder)} is not a folder: give the run cache, e.g. runs/")
    runs = []
    for run in sorted(folder.iterdir()):
        files = [run / RECORD_FILE, run / WEIGHTS_FILE]
        if run.is_symlink() or not RUN_NAME.fullmatch(run.name) or not run.is_dir():
            continue  # temporary folders (.name.tmp), stray files: not runs
        if any(f.is_symlink() for f in files):
            raise ConfigError(f"{display_path(run)} holds a symbolic link; copy the real files in before packing")
        if all(f.is_file() for f in files):
            runs.append(run)
    if not runs:
        raise ConfigError(
            f"{display_path(folder)} has no complete run (a folder with {RECORD_FILE} and "
            f"{WEIGHTS_FILE}): run ./run_all.sh first, or name the run cache it wrote"
        )
    return runs


def pack(folder: str | os.PathLike, archive: str | os.PathLike) -> Path:
    """Write the complete runs of `folder` to the zip `archive` atomically (no half archive if it fails)."""
    folder, archive = resolve(folder), resolve(archive)
    if archive.suffix != ".zip":
        raise ConfigError(f"{display_path(archive)}: the archive must end in .zip, e.g. -o class-runs.zip")
    runs = complete_runs(folder)
    manifest = {"format": FORMAT, "files": {}}
    with atomic_path(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
        for run in runs:
            for name in (RECORD_FILE, WEIGHTS_FILE):
                member = f"{run.name}/{name}"
                out.write(run / name, member)
                manifest["files"][member] = _sha256(run / name)
        out.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return archive


def _checked_manifest(zf: zipfile.ZipFile, archive: Path) -> dict[str, str]:
    """The archive's {member: sha256}, after checking every member's name, type and the total size."""
    where = display_path(archive)
    names = zf.namelist()
    if MANIFEST not in names:
        raise ConfigError(f"{where} is not a run cache packed by lab_utils.run.pack (no {MANIFEST})")
    try:
        manifest = json.loads(zf.read(MANIFEST))
        files = dict(manifest["files"])
        fmt = manifest["format"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: unreadable {MANIFEST} ({exc}); pack the runs again") from exc
    if fmt != FORMAT:
        raise ConfigError(f"{where} has format {fmt!r}, this lab_utils reads {FORMAT}: update lab_utils or repack")
    for info in zf.infolist():
        if info.filename == MANIFEST:
            continue
        if not MEMBER.fullmatch(info.filename) or info.is_dir() or info.external_attr >> 28 == 0o12:
            raise ConfigError(
                f"{where}: refusing member {info.filename!r} (only <run>/{RECORD_FILE} and "
                f"<run>/{WEIGHTS_FILE}, no folders outside, no links); pack the runs again"
            )
    if sorted(files) != sorted(n for n in names if n != MANIFEST) or len(set(names)) != len(names):
        raise ConfigError(f"{where}: its members do not match its manifest; pack the runs again")
    if sum(info.file_size for info in zf.infolist()) > MAX_BYTES:
        raise ConfigError(f"{where} unpacks to more than {MAX_BYTES >> 30} GB: not a run cache")
    return files


def unpack(archive: str | os.PathLike, folder: str | os.PathLike | None = None) -> list[Path]:
    """Put the archive's runs into `folder` (default: the run cache, runs/ or LAB_RUNS_DIR); return the runs added.

    Each run lands atomically after its digests check out; a run already in the cache is kept as it is."""
    archive = resolve(archive)
    target = resolve(folder) if folder is not None else runs_dir()
    if not archive.is_file() or not zipfile.is_zipfile(archive):
        problem = "is not a zip archive" if archive.is_file() else "does not exist"
        raise ConfigError(
            f"{display_path(archive)} {problem}: give the file that "
            "`python -m lab_utils.run.pack runs/ -o class-runs.zip` wrote"
        )
    added = []
    with zipfile.ZipFile(archive) as zf:
        files = _checked_manifest(zf, archive)
        for run in sorted({member.split("/")[0] for member in files}):
            final = target / run
            if (final / RECORD_FILE).is_file() and (final / WEIGHTS_FILE).is_file():
                continue
            with atomic_dir(final) as tmp:
                for name in (RECORD_FILE, WEIGHTS_FILE):
                    member = f"{run}/{name}"
                    if member not in files:
                        raise ConfigError(f"{display_path(archive)}: run {run} lacks {name}; pack the runs again")
                    (tmp / name).write_bytes(zf.read(member))
                    if _sha256(tmp / name) != files[member]:
                        raise ConfigError(
                            f"{display_path(archive)}: {member} does not match its digest (a damaged "
                            "or edited archive); download or pack it again"
                        )
            added.append(final)
    return added
