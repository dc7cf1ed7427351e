"""CIFAR-10's python batches, from a folder or from the official `cifar-10-python.tar.gz`, one file at a time.

Batches are unpickled from their streams by `safe_pickle` (never read whole into memory first), so loading
a batch costs its data once while it is unpickled and once more as channels-last images. The archive is read
member by member in memory: nothing is extracted, and tarfile's own header reads share a small budget,
because a pax or long-name header can otherwise ask for gigabytes in one read.
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lab_utils.data.bounded_read import CHUNK, MAX_ROWS, REDOWNLOAD, check_declared, file_size, reading
from lab_utils.data.safe_pickle import load_dict, loads_dict
from lab_utils.errors import DatasetError

CIFAR_DIR, CIFAR_TAR = "cifar-10-batches-py", "cifar-10-python.tar.gz"
CIFAR_ROW_BYTES = 3 * 32 * 32
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
CIFAR_FILES = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)
# The official archive has 9 members; tarfile's header reads (512-byte blocks, pax and long-name data) for
# those come to a few kB. Past these limits an archive is not CIFAR-10, whatever it claims.
MAX_TAR_MEMBERS = 64
MAX_TAR_HEADER_BYTES = 1 << 20
MAX_TAR_PADDING = 1 << 20  # zero blocks after the end marker (GNU tar pads to its record size)
# batch_label of each official batch, checked when a folder must be an untouched official extraction.
OFFICIAL_LABELS = {
    **{name: f"training batch {i} of 5" for i, name in enumerate(CIFAR_TRAIN_BATCHES, 1)},
    CIFAR_TEST_BATCH: "testing batch 1 of 1",
}
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...] | None]


def _labels(labels: object, n: int, source: str) -> np.ndarray:
    """Labels as int64, checked before conversion: a list of anything else could expand (or overflow)."""
    if isinstance(labels, np.ndarray):
        ok, y = labels.ndim == 1 and labels.dtype.kind in "iu", labels
    else:
        ok = type(labels) is list and all(type(v) is int and -(2**31) <= v < 2**31 for v in labels)
        y = np.array(labels, dtype=np.int64) if ok else None
    if not ok or len(y) != n:  # type: ignore[arg-type]
        shape = np.shape(labels) if ok else f"non-integer {type(labels).__name__}"
        raise DatasetError(f"{source} has {n} images but labels of shape {shape}: {REDOWNLOAD}")
    return y  # type: ignore[return-value]


def _check_official(batch: dict[str, object], n: int, label: str, source: str) -> None:
    """The official layout: the batch_label Keras's archive has and one filename per image."""
    filenames = batch.get("filenames")
    if batch.get("batch_label") not in (label, label.encode()) or type(filenames) is not list or len(filenames) != n:
        raise DatasetError(
            f"{source} is not an official CIFAR-10 batch (batch_label {label!r} and {n} filenames expected)"
        )


def _batch_arrays(batch: dict[str, object], source: str, official: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Channels-last images (n, 32, 32, 3) and labels (n,) from an unpickled batch dict, for any n."""
    missing = {"data", "labels"} - batch.keys()
    if missing:
        raise DatasetError(f"{source} lacks the keys {sorted(missing)} (found {sorted(batch)}): {REDOWNLOAD}")
    data = batch.pop("data")  # popped: the dict must not keep a second reference while images are copied
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.size % CIFAR_ROW_BYTES:
        raise DatasetError(
            f"{source}: 'data' must be uint8 with a multiple of {CIFAR_ROW_BYTES} bytes per row "
            f"(got {type(data).__name__} {getattr(data, 'shape', '')}): truncated or corrupt; {REDOWNLOAD}"
        )
    n = data.size // CIFAR_ROW_BYTES
    if n > MAX_ROWS:
        raise DatasetError(f"{source} declares {n:,} images, more than any CIFAR-10 file holds: {REDOWNLOAD}")
    labels = _labels(batch.pop("labels"), n, source)
    if official is not None:
        _check_official(batch, n, official, source)
    if not data.flags.c_contiguous:  # Fortran order: one C copy now, so reshape below stays a view
        data = np.ascontiguousarray(data)
    # Rows are channel-planar (1024 R, 1024 G, 1024 B); Keras wants channels-last.
    return np.ascontiguousarray(data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def parse_cifar_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch already in memory as channels-last images (n, 32, 32, 3) and labels (n,)."""
    return _batch_arrays(loads_dict(raw, source), source, None)


def read_cifar_batch(
    stream: BinaryIO, size: int, source: str, official: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One batch of `size` bytes unpickled from `stream`; `official` is the batch_label it must carry."""
    return _batch_arrays(load_dict(stream, size, source), source, official)


def meta_names(batch: dict[str, object], source: str) -> tuple[str, ...]:
    """Class names from `batches.meta`, so figures label classes the way the archive does."""
    names = batch.get("label_names")
    if type(names) is not list or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{source} has no 'label_names' list of text: {REDOWNLOAD}")
    try:
        return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{source}: a class name is not UTF-8 text ({exc}): {REDOWNLOAD}") from exc


def parse_cifar_meta(raw: bytes, source: str) -> tuple[str, ...]:
    """`meta_names` of a `batches.meta` already in memory."""
    return meta_names(loads_dict(raw, source), source)


def _assemble(parts: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...] | None) -> Arrays:
    """Concatenate the five training batches, dropping each once copied so memory can be reused at once."""
    rows = [len(parts[name][0]) for name in CIFAR_TRAIN_BATCHES]
    x_train = np.empty((sum(rows), 32, 32, 3), dtype=np.uint8)
    y_train = np.empty(sum(rows), dtype=np.result_type(*(parts[name][1] for name in CIFAR_TRAIN_BATCHES)))
    start = 0
    for name, n in zip(CIFAR_TRAIN_BATCHES, rows, strict=True):
        x_train[start : start + n], y_train[start : start + n] = parts.pop(name)
        start += n
    return x_train, y_train, *parts[CIFAR_TEST_BATCH], names


def missing_error(source: str, missing: list[str]) -> DatasetError:
    """One wording for an incomplete CIFAR folder or archive."""
    return DatasetError(f"{source} lacks {', '.join(missing)} of the CIFAR-10 python batches: {REDOWNLOAD}")


def _read_file(path: Path, official: bool, meta: bool = False) -> object:
    """One batch (or the meta file) from disk, streamed; files larger than any CIFAR file are refused."""
    with reading(path), path.open("rb") as handle:
        size = file_size(handle)
        check_declared(path, size, size, "the file", compressed=False)
        if meta:
            return meta_names(load_dict(handle, size, str(path)), str(path))
        return read_cifar_batch(handle, size, str(path), OFFICIAL_LABELS[path.name] if official else None)


def read_folder(folder: Path, *, official: bool = False) -> Arrays:
    """A `cifar-10-batches-py/` folder; `official` also demands the official layout and `batches.meta`."""
    wanted = CIFAR_FILES + ((CIFAR_META,) if official or (folder / CIFAR_META).is_file() else ())
    missing = [name for name in wanted if not (folder / name).is_file()]
    if missing:
        raise missing_error(str(folder), missing)
    parts = {name: _read_file(folder / name, official) for name in CIFAR_FILES}
    names = _read_file(folder / CIFAR_META, official, meta=True) if CIFAR_META in wanted else None
    return _assemble(parts, names)  # type: ignore[arg-type]


class _TarReads:
    """The decompressed archive as tarfile sees it: reads outside a member's data share a small budget."""

    def __init__(self, stream: BinaryIO, source: Path) -> None:
        self._stream, self._source = stream, source
        self.extracting, self.spent, self.last = False, 0, b""

    def read(self, n: int = -1) -> bytes:
        if not self.extracting:
            if n is None or n < 0 or self.spent + n > MAX_TAR_HEADER_BYTES:
                raise DatasetError(
                    f"{self._source}: a tar header asks to read {n:,} more bytes (after {self.spent:,} bytes of "
                    f"headers): corrupt or hostile archive, not CIFAR-10's; {REDOWNLOAD}"
                )
            self.last = self._stream.read(n)
            self.spent += len(self.last)
            return self.last
        return self._stream.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


def _expect_tar_end(reads: _TarReads, path: Path) -> None:
    """After the end marker only zero padding may follow; reading to the end also checks gzip's CRC."""
    padding = 0
    while True:
        chunk = reads.read(CHUNK)
        if not chunk:
            break
        padding += len(chunk)
        if chunk.count(0) != len(chunk) or padding > MAX_TAR_PADDING:
            raise DatasetError(f"{path} holds data after the archive's end (spliced or corrupt): {REDOWNLOAD}")
    if reads.last.count(0) != len(reads.last):
        raise DatasetError(f"{path} has an invalid tar header after its last member: corrupt archive; {REDOWNLOAD}")


def _cifar_members(
    archive: tarfile.TarFile, path: Path, size: int, compressed: bool
) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """(file name, member) for the archive's CIFAR files, each at most once; every member's size checked first."""
    seen = set()
    for count, member in enumerate(archive, 1):
        if count > MAX_TAR_MEMBERS:
            raise DatasetError(f"{path} has more than {MAX_TAR_MEMBERS} members: not CIFAR-10's archive")
        check_declared(path, member.size, size, f"the member {member.name}", compressed=compressed)
        base = member.name.rsplit("/", 1)[-1]
        if member.isfile() and base in (*CIFAR_FILES, CIFAR_META):
            if base in seen:
                raise DatasetError(f"{path} holds {base} twice (spliced archive?): {REDOWNLOAD}")
            seen.add(base)
            yield base, member


def read_tar(path: Path) -> Arrays:
    """The official `cifar-10-python.tar.gz` (or a plain tar), member by member: nothing is extracted."""
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    names = None
    with reading(path, "the archive "), path.open("rb") as handle:
        size, compressed = file_size(handle), handle.read(2) == b"\x1f\x8b"
        handle.seek(0)
        reads = _TarReads(gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle, path)
        with tarfile.open(fileobj=reads, mode="r:") as archive:  # type: ignore[call-overload]
            for base, member in _cifar_members(archive, path, size, compressed):
                reads.extracting = True  # our reads of member data are chunked; they need no budget
                source, data = f"{path}/{member.name}", archive.extractfile(member)
                if base == CIFAR_META:
                    names = meta_names(load_dict(data, member.size, source), source)  # type: ignore[arg-type]
                else:
                    parts[base] = read_cifar_batch(data, member.size, source)  # type: ignore[arg-type]
                reads.extracting = False
        reads.extracting = True
        _expect_tar_end(reads, path)
    missing = [name for name in CIFAR_FILES if name not in parts]
    if missing:
        raise missing_error(str(path), missing)
    return _assemble(parts, names)
