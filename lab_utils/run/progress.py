"""Progress that reads well under papermill: one line per training run, as the run cache receives it.

The kernel writes each finished run's record into the run cache atomically; the runner, in another process,
watches that folder and prints one line per new record. Nothing has to pass through the kernel's output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from lab_utils.training.records import RECORD_FILE, RunRecord

POLL_SECONDS = 2.0


def describe(record: RunRecord) -> str:
    """One line for a finished run: name, epochs, seconds, test accuracy."""
    name = record.config["experiment"]
    total = sum(record.epoch_seconds)
    return (
        f"{name}: {record.epochs_run} epoch(s) (best {record.best_epoch}), {total:.0f} s "
        f"({record.seconds_per_epoch:.1f} s/epoch), test accuracy {100 * record.test_accuracy:.2f} %"
    )


class RunWatcher:
    """Calls `report(line)` for every run record that appears under `runs_dir` while the watcher is active."""

    def __init__(self, runs_dir: Path, report: Callable[[str], None]) -> None:
        self.runs_dir = Path(runs_dir)
        self.report = report
        self._seen = self._records()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-watcher", daemon=True)

    def _records(self) -> set[Path]:
        return set(self.runs_dir.glob(f"*/{RECORD_FILE}")) if self.runs_dir.is_dir() else set()

    def poll(self) -> None:
        """Report records that appeared since the last poll (a record being replaced is read once complete)."""
        for path in sorted(self._records() - self._seen):
            try:
                record = RunRecord.from_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, TypeError):
                continue  # not complete yet: the next poll sees it again
            self._seen.add(path)
            self.report(describe(record))

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()

    def __enter__(self) -> RunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the last run of a notebook finishes just before the notebook does
