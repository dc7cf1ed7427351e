"""Parsers for the official on-disk formats of MNIST, Fashion-MNIST and CIFAR-10.

Each parser validates what it reads and raises `DatasetError` naming the file and the fix, because a
silently truncated or mis-shaped array would only surface later as a baffling training result.
Nothing here writes to disk: archives are read in memory, so read-only data folders work.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab_utils.errors import DatasetError

IDX_GZ = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
IDX_RAW = tuple(name.removesuffix(".gz") for name in IDX_GZ)
CIFAR_DIR, CIFAR_TAR = "cifar-10-batches-py", "cifar-10-python.tar.gz"
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
CIFAR_ROW_BYTES = 3 * 32 * 32
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
CIFAR_FILES = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)

# Only what numpy needs to rebuild an array; `_codecs.encode` is how Python-3 protocol-2 pickles
# spell a bytes object. Anything else (os.system, builtins.eval, ...) could run code on load.
_SAFE_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("_codecs", "encode"),
    }
)
_REDOWNLOAD = "re-download the official files (or copy them again from a good source)"


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


def _read_maybe_gzip(path: Path) -> bytes:
    """Read a file, gunzipping `.gz`: a truncated download must fail here, not as a reshape error."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (EOFError, OSError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(
            f"cannot read {path}: {exc} (truncated or corrupt file?): {_REDOWNLOAD}"
        ) from exc


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Parse one IDX file (uint8 payload), checking magic, header and byte count against each other."""
    path = Path(path)
    raw = _read_maybe_gzip(path)
    ndim = magic & 0xFF
    header_len = 4 * (1 + ndim)
    if len(raw) < header_len:
        raise DatasetError(f"{path} is too short for an IDX header ({len(raw)} bytes): {_REDOWNLOAD}")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DatasetError(
            f"{path} has IDX magic number {found}, expected {magic} "
            f"({'images' if magic == IDX_IMAGES_MAGIC else 'labels'}): wrong or corrupt file; {_REDOWNLOAD}"
        )
    dims = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1))
    expected = header_len + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise DatasetError(
            f"{path} holds {len(raw)} bytes but its header {dims} needs {expected}: "
            f"truncated or corrupt file; {_REDOWNLOAD}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, rows, cols) and labels (n,), refusing a pair whose row counts disagree."""
    x = read_idx(images, IDX_IMAGES_MAGIC)
    y = read_idx(labels, IDX_LABELS_MAGIC)
    if len(x) != len(y):
        raise DatasetError(
            f"{images} has {len(x)} images but {labels} has {len(y)} labels: "
            f"the files come from different downloads; {_REDOWNLOAD}"
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
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as exc:
        raise DatasetError(f"{path} lacks the array {exc} (keys x_train y_train x_test y_test): {_REDOWNLOAD}") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetError(f"cannot read {path}: {exc} (truncated or corrupt file?): {_REDOWNLOAD}") from exc
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
            raise DatasetError(
                f"{path}: x_{split} {x.shape} {x.dtype} / y_{split} {y.shape} is not (n, H, W) uint8 "
                f"images with n labels: {_REDOWNLOAD}"
            )
    return RawSplits(**arrays, source=str(path))


# ---------------------------------------------------------------- CIFAR-10 python batches


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else, because a pickle can run any code."""

    def __init__(self, file: io.BufferedIOBase, source: str, **kwargs: str) -> None:
        super().__init__(file, **kwargs)
        self._source = source

    def find_class(self, module: str, name: str) -> object:
        """Allow only the numpy reconstruction globals; refuse the rest before it is imported."""
        if (module, name) in _SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise DatasetError(
            f"refusing to unpickle {module}.{name} from {self._source}: the file may be corrupt or malicious; "
            f"{_REDOWNLOAD}. (Batches re-saved by Python 3 load only with pickle protocol 2 to 4.)"
        )


def unpickle(raw: bytes, source: str) -> dict[str, object]:
    """Safely unpickle a CIFAR dict, decoding the bytes keys of the official Python-2 files."""
    try:
        loaded = SafeUnpickler(io.BytesIO(raw), source, encoding="bytes").load()
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise DatasetError(f"cannot unpickle {source}: {exc!r} (truncated or corrupt file?): {_REDOWNLOAD}") from exc
    if not isinstance(loaded, dict):
        raise DatasetError(f"{source} holds a {type(loaded).__name__}, not a CIFAR batch dict: {_REDOWNLOAD}")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): value for key, value in loaded.items()}


def parse_cifar_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch as channels-last images (n, 32, 32, 3) and labels (n,), for any row count n."""
    batch = unpickle(raw, source)
    missing = {"data", "labels"} - batch.keys()
    if missing:
        raise DatasetError(f"{source} lacks the keys {sorted(missing)} (found {sorted(batch)}): {_REDOWNLOAD}")
    data, labels = batch["data"], np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.size % CIFAR_ROW_BYTES:
        raise DatasetError(
            f"{source}: 'data' must be uint8 with a multiple of {CIFAR_ROW_BYTES} bytes per row "
            f"(got {type(data).__name__} {getattr(data, 'shape', '')}): truncated or corrupt; {_REDOWNLOAD}"
        )
    n = data.size // CIFAR_ROW_BYTES
    if labels.ndim != 1 or len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{source} has {n} images but labels of shape {labels.shape}: {_REDOWNLOAD}")
    # Rows are channel-planar (1024 R, 1024 G, 1024 B); Keras wants channels-last.
    images = data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def parse_cifar_meta(raw: bytes, source: str) -> tuple[str, ...]:
    """Class names from `batches.meta`, so figures label classes the way the archive does."""
    names = unpickle(raw, source).get("label_names")
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{source} has no 'label_names' list: {_REDOWNLOAD}")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def _assemble_cifar(read: dict[str, bytes], source: str) -> RawSplits:
    """Concatenate the five training batches and parse the test batch and the optional meta."""
    parts = [parse_cifar_batch(read[name], f"{source}/{name}") for name in CIFAR_TRAIN_BATCHES]
    x_test, y_test = parse_cifar_batch(read[CIFAR_TEST_BATCH], f"{source}/{CIFAR_TEST_BATCH}")
    meta = read.get(CIFAR_META)
    names = parse_cifar_meta(meta, f"{source}/{CIFAR_META}") if meta is not None else None
    return RawSplits(
        np.concatenate([x for x, _ in parts]),
        np.concatenate([y for _, y in parts]),
        x_test,
        y_test,
        source=source,
        class_names=names,
    )


def _missing_cifar_error(source: str, missing: list[str]) -> DatasetError:
    """One wording for an incomplete CIFAR folder or archive."""
    return DatasetError(f"{source} lacks {', '.join(missing)} of the CIFAR-10 python batches: {_REDOWNLOAD}")


def load_cifar_folder(folder: str | Path) -> RawSplits:
    """A `cifar-10-batches-py/` folder as extracted from the official archive."""
    folder = Path(folder)
    missing = [name for name in CIFAR_FILES if not (folder / name).is_file()]
    if missing:
        raise _missing_cifar_error(str(folder), missing)
    wanted = CIFAR_FILES + ((CIFAR_META,) if (folder / CIFAR_META).is_file() else ())
    try:
        read = {name: (folder / name).read_bytes() for name in wanted}
    except OSError as exc:
        raise DatasetError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    return _assemble_cifar(read, str(folder))


def load_cifar_tar(path: str | Path) -> RawSplits:
    """The official `cifar-10-python.tar.gz`, read member by member in memory: nothing is extracted."""
    path = Path(path)
    read: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in (*CIFAR_FILES, CIFAR_META):
                    read[base] = archive.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetError(f"cannot read the archive {path}: {exc} (truncated or corrupt?): {_REDOWNLOAD}") from exc
    missing = [name for name in CIFAR_FILES if name not in read]
    if missing:
        raise _missing_cifar_error(str(path), missing)
    return _assemble_cifar(read, str(path))


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
