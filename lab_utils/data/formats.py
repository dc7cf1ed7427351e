"""Parsers for the official on-disk formats of MNIST, Fashion-MNIST and CIFAR-10.

Each parser validates what it reads and raises `DatasetError` naming the file and the fix, because a
silently truncated or mis-shaped array would only surface later as a baffling training result. The files
are untrusted (copied from a colleague, a USB stick, a half-finished download), so no size a file declares
is allocated before it is checked against the bytes that can be there (`bounded_read`), and pickles are
validated opcode by opcode (`safe_pickle`). Nothing here writes to disk: archives are read in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab_utils.data.bounded_read import (
    MAX_ROWS,
    REDOWNLOAD,
    check_declared,
    expect_end,
    file_size,
    read_array,
    read_up_to,
    reading,
)
from lab_utils.data.formats_cifar import (  # noqa: F401  # re-exported: callers import the CIFAR names from here
    CIFAR_DIR,
    CIFAR_FILES,
    CIFAR_META,
    CIFAR_ROW_BYTES,
    CIFAR_TAR,
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    parse_cifar_batch,
    parse_cifar_meta,
    read_folder,
    read_tar,
)
from lab_utils.data.formats_npz import read_npz
from lab_utils.errors import DatasetError

IDX_GZ = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
IDX_RAW = tuple(name.removesuffix(".gz") for name in IDX_GZ)
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


@dataclass(frozen=True)
class RawSplits:
    """The official train/test arrays as stored on disk, before our validation split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    class_names: tuple[str, ...] | None = None


def file_digests(path: str | Path) -> dict[str, str]:
    """sha256 and md5 in one read: official sources publish one or the other, and archives are large."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


# ---------------------------------------------------------------- MNIST IDX


def _idx_dims(path: Path, head: bytes, magic: int) -> tuple[int, ...]:
    """The dimensions an IDX header declares, after checking its magic number."""
    ndim = magic & 0xFF
    if len(head) < 4 * (1 + ndim):
        raise DatasetError(f"{path} is too short for an IDX header ({len(head)} bytes): {REDOWNLOAD}")
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        raise DatasetError(
            f"{path} has IDX magic number {found}, expected {magic} "
            f"({'images' if magic == IDX_IMAGES_MAGIC else 'labels'}): wrong or corrupt file; {REDOWNLOAD}"
        )
    dims = tuple(int.from_bytes(head[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1))
    if dims[0] > MAX_ROWS:
        raise DatasetError(f"{path} declares {dims[0]:,} rows, more than any MNIST file holds: {REDOWNLOAD}")
    return dims


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Parse one IDX file (uint8 payload, raw or gzipped), checking magic, header and byte count.

    The header alone decides the array's size; a gzipped file is inflated only up to that size, and any
    data after it is refused, so a gzip bomb behind a small header costs a chunk, not its inflated size.
    """
    path = Path(path)
    header_len = 4 * (1 + (magic & 0xFF))
    with reading(path), path.open("rb") as handle:
        on_disk, compressed = file_size(handle), path.suffix == ".gz"
        stream = gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle
        dims = _idx_dims(path, read_up_to(stream, header_len), magic)
        nbytes = math.prod(dims)
        if not compressed and on_disk != header_len + nbytes:
            raise DatasetError(
                f"{path} holds {on_disk} bytes but its header {dims} needs {header_len + nbytes}: "
                f"truncated or corrupt file; {REDOWNLOAD}"
            )
        check_declared(path, nbytes, on_disk, f"its header {dims}", compressed=compressed)
        data = read_array(stream, nbytes, path, f"its header {dims}", on_disk=not compressed)
        expect_end(stream, path, f"its header {dims}")
    return data.reshape(dims)


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, rows, cols) and labels (n,), refusing a pair whose row counts disagree."""
    x = read_idx(images, IDX_IMAGES_MAGIC)
    y = read_idx(labels, IDX_LABELS_MAGIC)
    if len(x) != len(y):
        raise DatasetError(
            f"{images} has {len(x)} images but {labels} has {len(y)} labels: "
            f"the files come from different downloads; {REDOWNLOAD}"
        )
    return x, y


def load_idx_folder(folder: str | Path, names: tuple[str, str, str, str]) -> RawSplits:
    """The four MNIST-layout IDX files (train images, train labels, test images, test labels)."""
    folder = Path(folder)
    x_train, y_train = read_idx_pair(folder / names[0], folder / names[1])
    x_test, y_test = read_idx_pair(folder / names[2], folder / names[3])
    return RawSplits(x_train, y_train, x_test, y_test, source=f"{folder} (IDX files)")


# ---------------------------------------------------------------- Keras mnist.npz


def load_mnist_npz(path: str | Path) -> RawSplits:
    """Keras's `mnist.npz`, loaded without pickle so a tampered file cannot run code."""
    path = Path(path)
    arrays = read_npz(path)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
            raise DatasetError(
                f"{path}: x_{split} {x.shape} {x.dtype} / y_{split} {y.shape} is not (n, H, W) uint8 "
                f"images with n labels: {REDOWNLOAD}"
            )
    return RawSplits(**arrays, source=str(path))


# ---------------------------------------------------------------- CIFAR-10 python batches


def load_cifar_folder(folder: str | Path, *, official: bool = False) -> RawSplits:
    """A `cifar-10-batches-py/` folder as extracted from the official archive.

    `official=True` verifies a folder that must be an untouched extraction (Keras's cache) by structure:
    all seven files, each batch with its official batch_label and one filename per image.
    """
    folder = Path(folder)
    x_train, y_train, x_test, y_test, names = read_folder(folder, official=official)
    return RawSplits(x_train, y_train, x_test, y_test, source=str(folder), class_names=names)


def load_cifar_tar(path: str | Path) -> RawSplits:
    """The official `cifar-10-python.tar.gz`, read member by member in memory: nothing is extracted."""
    path = Path(path)
    x_train, y_train, x_test, y_test, names = read_tar(path)
    return RawSplits(x_train, y_train, x_test, y_test, source=str(path), class_names=names)


# ---------------------------------------------------------------- locating the files


def find_official_files(name: str, folder: Path) -> Callable[[], RawSplits] | None:
    """The loader for dataset `name`'s official files in `folder`, or None if it holds none of them.

    CIFAR: `cifar-10-batches-py/` (or the batches in `folder` itself), else `cifar-10-python.tar.gz`.
    The MNISTs: the four IDX files, gzipped or not; MNIST also `mnist.npz`. Half a set of IDX files
    raises, since falling through to another source would hide the user's mistake.
    """
    if name == "cifar10":
        for batches in (folder / CIFAR_DIR, folder):
            if any(batches.glob("*_batch*")):
                return lambda: load_cifar_folder(batches)
        return (lambda: load_cifar_tar(folder / CIFAR_TAR)) if (folder / CIFAR_TAR).is_file() else None
    for names in (IDX_GZ, IDX_RAW):
        missing = [n for n in names if not (folder / n).is_file()]
        if len(missing) < len(names):
            if missing:
                raise DatasetError(f"{folder} lacks {', '.join(missing)}: copy all four IDX files there")
            return lambda: load_idx_folder(folder, names)  # type: ignore[arg-type]
    npz = folder / "mnist.npz"
    return (lambda: load_mnist_npz(npz)) if name == "mnist" and npz.is_file() else None
