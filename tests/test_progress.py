"""One line per training run under run_all.sh: the watcher reports each record as the run cache receives it."""

from __future__ import annotations

from pathlib import Path

from lab_utils.run.progress import RunWatcher, describe
from lab_utils.training.records import RECORD_FILE, RunRecord


def record(name: str) -> RunRecord:
    return RunRecord(
        config={"experiment": name},
        key="k",
        dataset={},
        history={},
        epoch_seconds=[2.0, 1.0, 1.5],
        best_epoch=2,
        params={},
        test_loss=1.0,
        test_accuracy=0.4975,
        backend="tensorflow",
        device="CPU",
        jit_compile=False,
    )


def test_describe_gives_name_epochs_seconds_and_accuracy() -> None:
    assert describe(record("cifar_vgg")) == ("cifar_vgg: 3 epoch(s) (best 2), 4 s (1.5 s/epoch), test accuracy 49.75 %")


def test_only_new_complete_records_are_reported_once(tmp_path: Path) -> None:
    (tmp_path / "old-1").mkdir()
    (tmp_path / "old-1" / RECORD_FILE).write_text(record("old").to_json())
    lines: list[str] = []
    with RunWatcher(tmp_path, lines.append) as watcher:
        (tmp_path / "new-2").mkdir()
        (tmp_path / "new-2" / RECORD_FILE).write_text('{"config": ')  # being written: skipped for now
        watcher.poll()
        assert lines == []
        (tmp_path / "new-2" / RECORD_FILE).write_text(record("new").to_json())
    assert len(lines) == 1 and lines[0].startswith("new: 3 epoch(s)")
