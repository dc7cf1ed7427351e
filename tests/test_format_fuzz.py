"""Fuzzed parsers: truncations, bit flips, header edits, spliced members and pickle-opcode edits of the real
mini files (IDX raw and gzipped, mnist.npz, CIFAR batches, the tar). Every mutated file must give either a
DatasetError or exactly the arrays that an independent reading of the mutated file declares (numpy, pickle,
gzip and tarfile used directly), never another exception, and stay within the memory budget.

Examples are derandomized (the same on every run and in CI) and bounded so the whole file takes seconds.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import pickle
import pickletools
import re
import tarfile
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab_utils.data.formats import load_cifar_tar, load_mnist_npz, read_idx
from lab_utils.data.formats_cifar import read_cifar_batch
from lab_utils.errors import DatasetError

from .helpers import MINI

pytestmark = pytest.mark.skipif(not MINI.is_dir(), reason=f"the mini data set is not at {MINI}")
BATCHES = MINI / "cifar10" / "cifar-10-batches-py"
MIB = 1 << 20
FIXED = 16 * MIB


class Blob(bytes):
    """A mutated file; printed by size and hash, so a failing example's report stays readable."""

    def __repr__(self) -> str:
        return f"<{len(self):,} bytes, sha256 {hashlib.sha256(self).hexdigest()[:16]}>"


def fuzz(examples: int) -> Callable:
    """Repeatable (derandomized, no example database) and bounded; no deadline, since CI machines vary."""
    return settings(
        max_examples=examples, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )


@functools.cache
def real(name: str) -> bytes:
    """A real mini file's bytes (IDX decompressed where the name has no .gz)."""
    if name.startswith(("t10k", "train")):
        gz = (MINI / "mnist" / f"{name.removesuffix('.gz')}.gz").read_bytes()
        return gz if name.endswith(".gz") else gzip.decompress(gz)
    return (BATCHES / name).read_bytes()


def outcome(load: Callable[[], object], legit: int) -> object | None:
    """What `load` returns, or None for a DatasetError; any other exception fails the example.

    Peak memory is traced (numpy registers its arrays with tracemalloc) and held to 2x the legitimate
    arrays of the unmutated file plus a fixed overhead: a mutation may shrink what a file declares, never
    let it allocate more than what is there.
    """
    tracemalloc.start()
    try:
        return load()
    except DatasetError:
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= 2 * legit + FIXED, f"peak {peak:,} bytes for {legit:,} bytes of arrays"


@st.composite
def mutated(draw: st.DrawFn, data: bytes, hot: list[int]) -> bytes:
    """`data` truncated, bit-flipped, overwritten, with bytes inserted or deleted; positions favour `hot`
    (header fields, opcodes), where a mutation changes what the rest of the file means."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        if not out:
            break
        near = draw(st.sampled_from(hot)) + draw(st.integers(-2, 8)) if hot else 0
        pos = draw(st.one_of(st.just(min(max(near, 0), len(out) - 1)), st.integers(0, len(out) - 1)))
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "delete"]))
        if kind == "truncate":
            del out[pos:]
        elif kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            new = draw(st.binary(min_size=1, max_size=8))
            out[pos : pos + len(new)] = new
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[pos : pos + draw(st.integers(1, 8))]
    return Blob(out)


def spliced(draw: st.DrawFn, a: bytes, b: bytes) -> bytes:
    """The start of `a` joined to the rest of `b`, cut at drawn points."""
    return Blob(a[: draw(st.integers(0, len(a)))] + b[draw(st.integers(0, len(b))) :])


# ---------------------------------------------------------------- IDX


def idx_reference(raw: bytes, magic: int) -> np.ndarray:
    """What a valid IDX file of these bytes holds, read with numpy alone."""
    ndim = magic & 0xFF
    assert int.from_bytes(raw[:4], "big") == magic
    dims = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1))
    return np.frombuffer(raw, np.uint8, offset=4 * (1 + ndim)).reshape(dims)


IDX_FILES = {"t10k-labels-idx1-ubyte": 2049, "t10k-images-idx3-ubyte": 2051}


@st.composite
def idx_cases(draw: st.DrawFn, gz: bool) -> tuple[bytes, int, int]:
    """(file bytes, magic, legitimate size): a raw or gzipped IDX file, damaged one of many ways."""
    name = draw(st.sampled_from(sorted(IDX_FILES)))
    raw, magic = real(name), IDX_FILES[name]
    how = draw(st.sampled_from(["content", "splice", "compressed", "members"] if gz else ["content", "splice"]))
    if how == "content":  # header fields and payload of the IDX itself (recompressed: the CRC stays right)
        raw = draw(mutated(raw, list(range(0, 16, 4))))
    elif how == "splice":
        raw = spliced(draw, raw, real(draw(st.sampled_from(sorted(IDX_FILES)))))
    if not gz:
        return Blob(raw), magic, len(real(name))
    if how == "compressed":  # the gzip bytes themselves: header, deflate stream, CRC and length trailer
        data = real(f"{name}.gz")
        return draw(mutated(data, [0, 3, 10, len(data) - 8, len(data) - 4])), magic, len(raw)
    if how == "members":  # a valid multi-member gzip, as `cat a.gz b.gz` makes: one stream to gzip
        cut = draw(st.integers(0, len(raw)))
        return Blob(gzip.compress(raw[:cut], 1) + gzip.compress(raw[cut:], 1)), magic, len(raw)
    return Blob(gzip.compress(raw, 1)), magic, len(real(name))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_mutations(gz: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("idx") / ("fuzz.gz" if gz else "fuzz")

    @fuzz(120)
    @given(idx_cases(gz))
    def check(case: tuple[bytes, int, int]) -> None:
        data, magic, legit = case
        path.write_bytes(data)
        got = outcome(lambda: read_idx(path, magic), legit)
        if got is not None:
            assert np.array_equal(got, idx_reference(gzip.decompress(data) if gz else data, magic))

    check()


# ---------------------------------------------------------------- CIFAR batches


class _Reference(pickle.Unpickler):
    """The plain unpickler, limited to numpy's globals: how pickle itself reads a batch we accepted."""

    def find_class(self, module: str, name: str) -> object:
        assert module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "_codecs"), (module, name)
        return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def batch_reference(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a batch as pickle and numpy read them, without our checks."""
    batch = {
        k if isinstance(k, str) else k.decode("latin1"): v
        for k, v in _Reference(io.BytesIO(data), encoding="bytes").load().items()
    }
    planar, labels = batch["data"], np.asarray(batch["labels"])
    return planar.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


@functools.cache
def opcode_positions(name: str) -> list[int]:
    """Where each opcode of a real batch starts (data payloads skipped)."""
    return [pos for _, _, pos in pickletools.genops(real(name))]


@st.composite
def batch_cases(draw: st.DrawFn) -> bytes:
    """A real batch, its opcodes edited, its header region damaged, or spliced with another batch."""
    name = draw(st.sampled_from(["data_batch_1", "test_batch", "batches.meta"]))
    data, how = real(name), draw(st.sampled_from(["opcodes", "header", "splice", "python3"]))
    if how == "opcodes":  # replace, delete or repeat one opcode byte
        pos = draw(st.sampled_from(opcode_positions(name)))
        new = draw(st.sampled_from([b"", data[pos : pos + 1] * 2, bytes([draw(st.integers(0, 255))])]))
        return Blob(data[:pos] + new + data[pos + 1 :])
    if how == "header":
        return draw(mutated(data, [p for p in opcode_positions(name) if p < 1800]))
    if how == "splice":
        return spliced(draw, data, real(draw(st.sampled_from(["data_batch_2", "test_batch", "batches.meta"]))))
    batch = pickle.loads(data, encoding="bytes")  # as Python 3 re-saves it, then damaged
    return draw(mutated(pickle.dumps(batch, protocol=draw(st.sampled_from([2, 3, 4]))), []))


@fuzz(300)
@given(data=batch_cases())
def test_cifar_batch_mutations(data: bytes) -> None:
    got = outcome(lambda: read_cifar_batch(io.BytesIO(data), len(data), "fuzz"), 761 * (3072 + 8))
    if got is not None:
        x, y = got  # type: ignore[misc]
        ref_x, ref_y = batch_reference(data)
        assert np.array_equal(x, ref_x) and np.array_equal(y, ref_y)


# ---------------------------------------------------------------- mnist.npz


@functools.cache
def real_npz(compressed: bool) -> bytes:
    """mnist.npz as np.savez writes it, from the real mini test images (train: their first 500)."""
    x, y = idx_reference(real("t10k-images-idx3-ubyte"), 2051), idx_reference(real("t10k-labels-idx1-ubyte"), 2049)
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, x_train=x[:500], y_train=y[:500], x_test=x, y_test=y)
    return buffer.getvalue()


@functools.cache
def npz_structure(compressed: bool) -> list[int]:
    """Where the zip headers and .npy headers of the real npz start."""
    data = real_npz(compressed)
    return sorted(m.start() for m in re.finditer(rb"\x93NUMPY|PK", data))


@st.composite
def npz_cases(draw: st.DrawFn) -> bytes:
    """The npz damaged in its .npy headers or zip structures, or with members spliced, dropped or repeated."""
    compressed = draw(st.booleans())
    data = real_npz(compressed)
    if draw(st.booleans()):
        return draw(mutated(data, npz_structure(compressed)))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    picked = draw(st.lists(st.sampled_from(members), min_size=3, max_size=6))
    if draw(st.booleans()):  # splice two members' bytes under one member's name
        (name, a), (_, b) = draw(st.sampled_from(members)), draw(st.sampled_from(members))
        picked.append((name, spliced(draw, a, b)))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of duplicate names: duplicates are the point here
        for name, member in picked:
            archive.writestr(name, member)
    return Blob(buffer.getvalue())


@fuzz(150)
@given(data=npz_cases())
def test_npz_mutations(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-mnist.npz"
    path.write_bytes(data)
    got = outcome(lambda: load_mnist_npz(path), 2500 * 785)
    if got is not None:
        with np.load(path, allow_pickle=False) as reference:
            for key in ("x_train", "y_train", "x_test", "y_test"):
                assert np.array_equal(getattr(got, key), reference[key])


# ---------------------------------------------------------------- cifar-10-python.tar.gz


@functools.cache
def real_tar() -> tuple[bytes, list[tuple[int, int]]]:
    """The mini batches as the official archive's tar (uncompressed), and each member's (start, end)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name in sorted(p.name for p in BATCHES.iterdir()):
            archive.add(BATCHES / name, arcname=f"cifar-10-batches-py/{name}")
    with tarfile.open(fileobj=io.BytesIO(buffer.getvalue())) as archive:
        spans = [(m.offset, m.offset_data + -(-m.size // 512) * 512) for m in archive.getmembers()]
    return buffer.getvalue(), spans


def tar_reference(data: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each batch of an archive we accepted, as tarfile, pickle and numpy read it."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {
            m.name.rsplit("/", 1)[-1]: batch_reference(archive.extractfile(m).read())  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile() and "_batch" in m.name
        }


def with_checksums(data: bytes, starts: list[int]) -> Blob:
    """Header checksums recomputed, so tarfile takes an edited header at its word."""
    out = bytearray(data)
    for start in starts:
        if len(out) >= start + 512:
            out[start + 148 : start + 156] = b"%06o\0 " % tarfile.calc_chksums(bytes(out[start : start + 512]))[0]
    return Blob(out)


@st.composite
def tar_cases(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(archive, gzipped): member headers edited (checksums fixed or not), members reordered, dropped,
    repeated or spliced, or the gzip stream damaged."""
    data, spans = real_tar()
    starts, members, end = [a for a, _ in spans], [data[a:b] for a, b in spans], data[spans[-1][1] :]
    how = draw(st.sampled_from(["headers", "members", "gzip"]))
    if how == "headers":  # name, mode, size, checksum, type, prefix fields
        data = draw(mutated(data, [h + field for h in starts for field in (0, 100, 124, 148, 156, 345)]))
        data = with_checksums(data, starts) if draw(st.booleans()) else data
    elif how == "members":
        picked = draw(st.one_of(st.permutations(members), st.lists(st.sampled_from(members), min_size=5, max_size=9)))
        data = Blob(b"".join(picked) + end)
    compressed = how == "gzip" or draw(st.sampled_from([False, False, True]))  # gzip costs time; it is covered
    packed = Blob(gzip.compress(data, 1)) if compressed else Blob(data)
    if how == "gzip":
        packed = draw(mutated(packed, [0, 3, 10, len(packed) - 8, len(packed) - 4]))
    return packed, compressed


@fuzz(30)
@given(case=tar_cases())
def test_tar_mutations(case: tuple[bytes, bool], tmp_path_factory: pytest.TempPathFactory) -> None:
    data, compressed = case
    path = tmp_path_factory.getbasetemp() / "fuzz-cifar-10-python.tar.gz"
    path.write_bytes(data)
    got = outcome(lambda: load_cifar_tar(path), 6 * 761 * (3072 + 8))
    if got is not None:
        reference = tar_reference(gzip.decompress(data) if compressed else data)
        train = [reference[f"data_batch_{i}"] for i in range(1, 6)]
        assert np.array_equal(got.x_train, np.concatenate([x for x, _ in train]))  # type: ignore[attr-defined]
        assert np.array_equal(got.y_train, np.concatenate([y for _, y in train]))  # type: ignore[attr-defined]
        assert np.array_equal(got.x_test, reference["test_batch"][0])  # type: ignore[attr-defined]
