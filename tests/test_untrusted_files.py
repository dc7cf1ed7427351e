"""Untrusted dataset files: hostile files built here load with one DatasetError and bounded memory, measured
in a child process with a capped address space; the real mini files load within 2x their arrays' size."""

from __future__ import annotations

import gzip
import io
import pickle
import pickletools
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lab_utils.data import bounded_read, sources
from lab_utils.data.datasets import load_dataset
from lab_utils.data.formats import load_cifar_tar, load_mnist_npz, parse_cifar_batch, read_idx
from lab_utils.errors import DatasetError

from . import hostile
from .helpers import MINI

MIB = 1 << 20
FIXED = 16 * MIB  # the fixed overhead of the budget: decompressor state, pickle objects, allocator slack
BATCHES = MINI / "cifar10" / "cifar-10-batches-py"
needs_mini = pytest.mark.skipif(not MINI.is_dir(), reason=f"the mini data set is not at {MINI}")


@pytest.mark.parametrize("name", sorted(hostile.HOSTILE))
def test_a_hostile_file_is_one_dataset_error_within_the_memory_budget(name: str, tmp_path: Path) -> None:
    path = hostile.write_hostile(name, tmp_path)
    assert path.stat().st_size < 2 * MIB  # small on disk; each asks for 0.7 GB to 1 TB
    result = hostile.load_in_child(hostile.HOSTILE[name][1], path, address_space=64 * MIB)
    assert str(result["outcome"]).startswith("DatasetError: ") and str(path) in str(result["outcome"]), result
    assert int(result["peak"]) <= FIXED, result  # such a file declares no legitimate array at all


def _mini_cifar_tar(folder: Path) -> Path:
    """The mini batches as the official archive."""
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for member in sorted(BATCHES.iterdir()):
            archive.add(member, arcname=f"cifar-10-batches-py/{member.name}")
    return path


def _mini_npz(folder: Path) -> Path:
    """A Keras-style mnist.npz from the mini IDX files."""
    arrays = {
        name: read_idx(
            MINI / "mnist" / f"{stem}-idx{1 if 'labels' in stem else 3}-ubyte.gz", 2049 if "labels" in stem else 2051
        )
        for name, stem in (
            ("x_train", "train-images"),
            ("y_train", "train-labels"),
            ("x_test", "t10k-images"),
            ("y_test", "t10k-labels"),
        )
    }
    np.savez(folder / "mnist.npz", **arrays)
    return folder / "mnist.npz"


def _legit_case(kind: str, tmp_path: Path) -> tuple[Path, str, int]:
    """(file, call that loads it, bytes of the arrays it legitimately declares) for one real mini file."""
    cifar = 6 * 761 * (3072 + 8)  # images plus int64 labels
    if kind == "idx-gz":
        return MINI / "mnist" / "train-images-idx3-ubyte.gz", "read_idx(path, 2051)", 8000 * 784
    if kind == "idx-raw":
        raw = tmp_path / "train-images-idx3-ubyte"
        raw.write_bytes(gzip.decompress((MINI / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()))
        return raw, "read_idx(path, 2051)", 8000 * 784
    if kind == "npz":
        return _mini_npz(tmp_path), "load_mnist_npz(path)", 10_000 * 785
    if kind == "cifar-folder":
        return BATCHES / "data_batch_1", "load_cifar_folder(folder)", cifar
    return _mini_cifar_tar(tmp_path), "load_cifar_tar(path)", cifar


@needs_mini
@pytest.mark.parametrize("kind", ["idx-gz", "idx-raw", "npz", "cifar-folder", "cifar-tar"])
def test_the_real_files_load_within_twice_their_arrays(kind: str, tmp_path: Path) -> None:
    path, call, legit = _legit_case(kind, tmp_path)
    result = hostile.load_in_child(call, path, address_space=2 * legit + 64 * MIB)
    assert result["outcome"] == "loaded", result
    assert int(result["peak"]) <= 2 * legit + FIXED, (result["peak"], legit)


# ---------------------------------------------------------------- IDX


def _idx(tmp_path: Path, payload: bytes, name: str = "train-labels-idx1-ubyte") -> Path:
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def test_idx_refuses_trailing_data_and_absurd_row_counts(tmp_path: Path) -> None:
    labels = hostile.idx_header(2049, 3) + bytes([1, 2, 3])
    assert read_idx(_idx(tmp_path, labels), 2049).tolist() == [1, 2, 3]
    with pytest.raises(DatasetError, match="trailing bytes"):
        read_idx(_idx(tmp_path, gzip.compress(labels + b"\0"), "x.gz"), 2049)
    with pytest.raises(DatasetError, match="declares 2,000,000 rows, more than any MNIST file"):
        read_idx(_idx(tmp_path, hostile.idx_header(2049, 2_000_000)), 2049)
    # Two gzip members are one stream (gzip's own rule): the split changes nothing.
    split = gzip.compress(labels[:5]) + gzip.compress(labels[5:])
    assert read_idx(_idx(tmp_path, split, "y.gz"), 2049).tolist() == [1, 2, 3]


def test_running_out_of_memory_is_a_dataset_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(bounded_read.np, "empty", no_memory)
    path = _idx(tmp_path, hostile.idx_header(2049, 3) + bytes(3))
    with pytest.raises(DatasetError, match=f"not enough memory to load {path}"):
        read_idx(path, 2049)


# ---------------------------------------------------------------- CIFAR pickles


def _batch(data: object, **extra: object) -> dict[str, object]:
    return {"data": data, "labels": [0] * (np.size(data) // 3072), **extra}


class _SameBytes:
    """An array that pickles with a given bytes object as its data: two of them share (alias) one buffer."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __reduce__(self) -> tuple[object, ...]:
        reconstruct = np.zeros(1).__reduce__()[0]
        return reconstruct, (np.ndarray, (0,), b"b"), (1, (1, 3072), np.dtype("u1"), False, self.raw)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda a: pickle.dumps(
                {"data": _SameBytes(raw := a.tobytes()), "labels": [0], "more": _SameBytes(raw)}, protocol=4
            ),
            "two arrays share one buffer",
        ),
        (lambda a: pickle.dumps(_batch(a), protocol=4) + b"\0", "follow the pickle's STOP"),
        (lambda a: pickle.dumps(_batch(a), protocol=5), "protocol 5|not 5"),
        (lambda a: pickle.dumps(_batch(a.astype(object)), protocol=4), "refusing to unpickle|not a plain number"),
        (lambda a: pickle.dumps({"data": a, "labels": [2**70]}, protocol=4), "non-integer"),
        (lambda a: pickle.dumps({("data",): a}, protocol=4), "key that is not text"),
        (lambda a: b"\x80\x02]" + b"K\x00" * 10_000 + b"e.", "more than 4,1[0-9][0-9] opcodes"),
        (
            lambda a: pickle.dumps(_batch(a), protocol=2).replace(b"K\x01M\x00\x0c", b"K\x02M\x00\x0c"),
            "shape \\(2, 3072\\) needs 6,144 bytes but its data holds 3,072",
        ),
    ],
)
def test_a_pickle_must_be_plain_arrays_each_over_its_own_bytes(make, match: str) -> None:
    array = np.arange(3072, dtype=np.uint8).reshape(1, 3072)
    with pytest.raises(DatasetError, match=match):
        parse_cifar_batch(make(array), "t")


def test_fortran_ordered_and_python3_pickles_load_exactly() -> None:
    planar = np.random.default_rng(0).integers(0, 256, (4, 3072), dtype=np.uint8)
    expected = planar.reshape(4, 3, 32, 32).transpose(0, 2, 3, 1)
    for protocol in (2, 3, 4):
        for data in (planar, np.asfortranarray(planar)):
            x, y = parse_cifar_batch(pickle.dumps({"data": data, "labels": np.arange(4)}, protocol=protocol), "t")
            assert np.array_equal(x, expected) and y.tolist() == [0, 1, 2, 3]


@needs_mini
def test_every_opcode_of_a_real_batch_is_allowed() -> None:
    raw = (BATCHES / "data_batch_1").read_bytes()
    names = {op.name for op, _, _ in pickletools.genops(raw)}
    assert names <= {
        "PROTO",
        "EMPTY_DICT",
        "MARK",
        "SHORT_BINSTRING",
        "EMPTY_LIST",
        "BININT1",
        "BININT2",
        "APPENDS",
        "GLOBAL",
        "TUPLE1",
        "TUPLE2",
        "TUPLE3",
        "REDUCE",
        "NONE",
        "BININT",
        "TUPLE",
        "BUILD",
        "NEWFALSE",
        "BINSTRING",
        "SETITEMS",
        "STOP",
    }


# ---------------------------------------------------------------- npz and tar


def test_npz_refuses_duplicate_members_trailing_bytes_and_objects(tmp_path: Path) -> None:
    good = {
        f"{k}.npy": hostile.npy((1, 1, 1) if k.startswith("x") else (1,), b"\0")
        for k in ("x_train", "y_train", "x_test", "y_test")
    }
    path = tmp_path / "mnist.npz"
    path.write_bytes(hostile.npz(good, zipfile.ZIP_DEFLATED))
    assert load_mnist_npz(path).x_train.shape == (1, 1, 1)
    cases = {
        "holds 2 bytes of data": {**good, "y_test.npy": good["y_test.npy"] + b"\0"},
        "not plain numbers": {**good, "y_test.npy": hostile.npy((1,), b"\0" * 8, "|O")},
        "not a version 1 or 2": {**good, "y_test.npy": b"PK" + good["y_test.npy"]},
        r"declares the shape \(-2, -3\)": {**good, "x_train.npy": hostile.npy((-2, -3), b"\0" * 6)},
    }
    for match, members in cases.items():
        path.write_bytes(hostile.npz(members))
        with pytest.raises(DatasetError, match=match):
            load_mnist_npz(path)
    buffer = io.BytesIO(hostile.npz(good))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("x_train.npy", good["x_train.npy"])  # a second member of the same name
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DatasetError, match=r"2 members named x_train\.npy"):
        load_mnist_npz(path)


@needs_mini
def test_tar_refuses_spliced_members_and_data_after_its_end(tmp_path: Path) -> None:
    meta = BATCHES / "batches.meta"
    path = _mini_cifar_tar(tmp_path)
    good = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(good + b"junk" * 128, compresslevel=1))
    with pytest.raises(DatasetError, match="after the archive's end"):
        load_cifar_tar(path)
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        archive.add(meta, arcname="a/batches.meta")
        archive.add(meta, arcname="b/batches.meta")
    with pytest.raises(DatasetError, match=r"holds batches\.meta twice"):
        load_cifar_tar(path)
    with tarfile.open(path, "w") as archive:  # plain tar, too many members
        for i in range(70):
            archive.add(meta, arcname=f"junk/{i}")
    with pytest.raises(DatasetError, match="more than 64 members"):
        load_cifar_tar(path)


# ---------------------------------------------------------------- the Keras cache


@needs_mini
def test_a_cached_cifar_folder_is_verified_by_structure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    monkeypatch.setitem(sources.DOWNLOADS, "cifar10", ("", {}))  # no download: only the cache may answer
    cached = Path(shutil.copytree(BATCHES, tmp_path / "keras" / "datasets" / "cifar-10-batches-py"))
    assert len(load_dataset("cifar10", train_limit=100, test_limit=50).y_test) == 50
    batch = pickle.loads((cached / "data_batch_2").read_bytes(), encoding="bytes")
    batch[b"batch_label"] = b"my own batch"
    (cached / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(
        DatasetError,
        match=r"cache folder .* is not a complete official CIFAR-10 extraction .*data_batch_2.*delete it and re-run",
    ):
        load_dataset("cifar10")
    (cached / "data_batch_2").write_bytes((BATCHES / "data_batch_2").read_bytes())
    (cached / "batches.meta").unlink()  # an interrupted extraction
    with pytest.raises(DatasetError, match=r"lacks batches\.meta"):
        load_dataset("cifar10")
