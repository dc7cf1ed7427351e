"""A teacher's run cache (lab_utils.run.pack): packed atomically, unpacked only when every member is a run file
whose digest matches, never outside the run cache."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from lab_utils.errors import ConfigError
from lab_utils.run import pack as pack_cli
from lab_utils.training import archive as pack


def make_runs(folder: Path) -> Path:
    """Two complete runs, one without weights (interrupted), a temporary folder and a stray file."""
    for name, weights in (("mnist_cnn-ab12", b"W1" * 100), ("mnist_mlp-cd34", b"W2" * 50)):
        (folder / name).mkdir(parents=True)
        (folder / name / "record.json").write_text(json.dumps({"experiment": name}))
        (folder / name / "model.weights.h5").write_bytes(weights)
    (folder / "cifar_cnn-ef56").mkdir()
    (folder / "cifar_cnn-ef56" / "record.json").write_text("{}")
    (folder / ".vgg-0000.tmp").mkdir()
    (folder / "notes.txt").write_text("not a run")
    return folder


def test_packed_runs_unpack_into_another_cache_byte_for_byte(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "runs")
    archive = pack.pack(runs, tmp_path / "class-runs.zip")
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == [
            "lab-runs.json",
            "mnist_cnn-ab12/model.weights.h5",
            "mnist_cnn-ab12/record.json",
            "mnist_mlp-cd34/model.weights.h5",
            "mnist_mlp-cd34/record.json",
        ]
    added = pack.unpack(archive, tmp_path / "student")
    assert [p.name for p in added] == ["mnist_cnn-ab12", "mnist_mlp-cd34"]
    for run in added:
        for name in ("record.json", "model.weights.h5"):
            assert (run / name).read_bytes() == (runs / run.name / name).read_bytes()
    assert pack.unpack(archive, tmp_path / "student") == []  # already there: kept, not rewritten


def test_the_file_names_match_the_run_records() -> None:
    from lab_utils.training import records

    assert (pack.RECORD_FILE, pack.WEIGHTS_FILE) == (records.RECORD_FILE, records.WEIGHTS_FILE)


def test_a_failed_pack_leaves_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = make_runs(tmp_path / "runs")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full)
    with pytest.raises(OSError):
        pack.pack(runs, tmp_path / "out" / "class-runs.zip")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d.mkdir(), "has no complete run"),
        (lambda d: None, "is not a folder"),
    ],
)
def test_packing_nothing_is_refused_with_the_fix(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path / "runs")
    with pytest.raises(ConfigError, match=message):
        pack.pack(tmp_path / "runs", tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()


def test_a_linked_weights_file_is_refused(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "runs")
    (tmp_path / "secret").write_text("private")
    (runs / "mnist_mlp-cd34" / "model.weights.h5").unlink()
    (runs / "mnist_mlp-cd34" / "model.weights.h5").symlink_to(tmp_path / "secret")
    with pytest.raises(ConfigError, match="symbolic link"):
        pack.pack(runs, tmp_path / "a.zip")


def hostile_archive(path: Path, name: str, *, link: bool = False, digest: str | None = None) -> Path:
    """A zip with a manifest that vouches for one member `name` (so only the name check can stop it)."""
    data = b"payload"
    import hashlib

    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(name)
        if link:
            info.external_attr = 0o120777 << 16
        zf.writestr(info, data)
        files = {name: digest or hashlib.sha256(data).hexdigest()}
        zf.writestr(pack.MANIFEST, json.dumps({"format": pack.FORMAT, "files": files}))
    return path


@pytest.mark.parametrize(
    "name, link, digest, message",
    [
        ("../evil/record.json", False, None, "refusing member '../evil/record.json'"),
        ("/tmp/evil/record.json", False, None, "refusing member '/tmp/evil/record.json'"),
        ("run-1/../../record.json", False, None, "refusing member"),
        ("run-1/payload.py", False, None, "refusing member"),
        ("run-1/record.json", True, None, "no links"),
        ("run-1/record.json", False, "0" * 64, "does not match its digest"),
    ],
)
def test_unsafe_archives_are_refused_and_write_nothing(
    tmp_path: Path, name: str, link: bool, digest: str | None, message: str
) -> None:
    archive = hostile_archive(tmp_path / "bad.zip", name, link=link, digest=digest)
    target = tmp_path / "cache" / "runs"
    with pytest.raises(ConfigError, match=message):
        pack.unpack(archive, target)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "record.json").exists()
    assert not (target / "run-1" / "record.json").exists()
    assert not [p for p in target.parent.rglob("*") if p.is_file()]


def test_an_archive_from_elsewhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notzip.zip").write_text("hello")
    with pytest.raises(ConfigError, match="not a zip archive"):
        pack.unpack(tmp_path / "notzip.zip", tmp_path / "runs")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("run-1/record.json", "{}")
    with pytest.raises(ConfigError, match=r"no lab-runs\.json"):
        pack.unpack(tmp_path / "other.zip", tmp_path / "runs")


def test_lab_runs_archive_loads_into_lab_runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pack.pack(make_runs(tmp_path / "runs"), tmp_path / "class-runs.zip")
    monkeypatch.setenv("LAB_CALLER_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_RUNS_DIR", "student-runs")
    monkeypatch.setenv("LAB_RUNS_ARCHIVE", "class-runs.zip")
    from lab_utils.training.session import Session

    session = Session("smoke", verbose=0)  # what a notebook's Lab does as it starts
    assert session.runs_dir == tmp_path / "student-runs"
    assert sorted(p.name for p in session.runs_dir.iterdir()) == ["mnist_cnn-ab12", "mnist_mlp-cd34"]
    assert (tmp_path / "student-runs" / "mnist_cnn-ab12" / "model.weights.h5").is_file()


def test_the_command_line_packs_loads_and_says_what_is_wrong(tmp_path: Path, monkeypatch, capsys) -> None:
    make_runs(tmp_path / "runs")
    monkeypatch.setenv("LAB_CALLER_DIR", str(tmp_path))
    assert pack_cli.main(["runs", "-o", "class-runs.zip"]) == 0
    assert capsys.readouterr().out.strip() == "2 runs packed into class-runs.zip"
    assert pack_cli.main(["--load", "class-runs.zip", "--runs-dir", "student"]) == 0
    assert capsys.readouterr().out.strip() == "2 runs added to student"
    assert pack_cli.main(["runs", "-o", "class-runs.tar"]) == 2
    assert "must end in .zip" in capsys.readouterr().err


def test_the_command_line_takes_relative_paths_from_where_it_was_typed(tmp_path: Path, monkeypatch, capsys) -> None:
    make_runs(tmp_path / "runs")
    monkeypatch.setenv("LAB_CALLER_DIR", "")  # restored afterwards: main sets it for the rest of the process
    monkeypatch.delenv("LAB_CALLER_DIR")
    monkeypatch.chdir(tmp_path)
    assert pack_cli.main(["runs", "-o", "class-runs.zip"]) == 0
    assert (tmp_path / "class-runs.zip").is_file()
    assert pack_cli.main(["--load", "missing.zip"]) == 2
    assert "missing.zip does not exist" in capsys.readouterr().err
