"""Where a dataset's official files are found, in order: an explicit `data_dir` (else `LAB_DATA_DIR`), Debian's
Fashion-MNIST package, the Keras cache (`$KERAS_HOME/datasets`: files hash-checked, an extracted CIFAR folder
checked by structure), then a verified download into that cache.

Every failure raises `DatasetError` saying what is wrong and how to fix it; nothing is ever written to a data
folder, and a failed download leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab_utils import paths
from lab_utils.data.formats import (
    CIFAR_DIR,
    CIFAR_TAR,
    IDX_GZ,
    RawSplits,
    file_digests,
    find_official_files,
    load_cifar_folder,
    load_cifar_tar,
)
from lab_utils.errors import DatasetError

# A module constant so tests can point it elsewhere.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Subfolder names accepted under a data folder, the first one documented in messages.
_SUBFOLDERS = {"mnist": ("mnist",), "fashion_mnist": ("fashion_mnist", "fashion-mnist"), "cifar10": ("cifar10",)}
_EXPECTED = {
    "mnist": f"{', '.join(IDX_GZ)}, or mnist.npz",
    "fashion_mnist": ", ".join(IDX_GZ),
    "cifar10": f"{CIFAR_DIR}/ (data_batch_1..5, test_batch, batches.meta) or {CIFAR_TAR}",
}


@dataclass(frozen=True)
class Remote:
    """An official download: `get_file` verifies `file_hash`; `also_accepted` are other known-good cached copies."""

    url: str
    file_hash: str
    also_accepted: tuple[str, ...] = ()


_TF_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Fashion-MNIST publishes md5s only. Debian's .gz files are re-gzipped (their headers lack the file name,
# exactly what makes them 23-24 bytes shorter than the official ones), so their md5s differ; their
# sha256s are accepted for a copy in the cache, get_file checks a download against the official md5.
_FASHION_HASHES = {
    IDX_GZ[0]: ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
    IDX_GZ[1]: ("25c81989df183df01b3e8a0aad5dffbe", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
    IDX_GZ[2]: ("bef4ecab320f06d8554ea6380940ec79", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
    IDX_GZ[3]: ("bb300cfdad3c16e7a12a480ee83cd310", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
}
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_HASHES = ("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", "c58f30108f718f92721af3b95e74349a")
# The one table of URLs and hashes: dataset -> (subfolder of $KERAS_HOME/datasets, {file name: Remote}).
DOWNLOADS: dict[str, tuple[str, dict[str, Remote]]] = {
    "mnist": ("", {"mnist.npz": Remote(_TF_DATASETS + "mnist.npz", _MNIST_SHA256)}),
    "fashion_mnist": (
        "fashion-mnist",
        {name: Remote(_TF_DATASETS + name, md5, (sha,)) for name, (md5, sha) in _FASHION_HASHES.items()},
    ),
    "cifar10": ("", {CIFAR_TAR: Remote(_CIFAR_URL, _CIFAR_HASHES[0], _CIFAR_HASHES[1:])}),
}
# Where Keras itself leaves CIFAR in its cache: older versions, then 3.15.1's get_file(extract=True).
_KERAS_CIFAR_FOLDERS = (CIFAR_DIR, f"{CIFAR_DIR}-target/{CIFAR_DIR}")
_KERAS_CIFAR_ARCHIVES = (CIFAR_TAR, f"{CIFAR_DIR}.tar.gz", f"{CIFAR_DIR}-target_archive")

Loader = Callable[[], RawSplits]


def locate(name: str, data_dir: str | os.PathLike[str] | None) -> Loader:
    """The first source that has the dataset, in the documented order."""
    if data_dir is not None:
        return _from_data_dir(name, Path(data_dir).expanduser(), "data_dir", strict=True)  # type: ignore[return-value]
    env_dir = paths.data_dir_from_env()
    # LAB_DATA_DIR may hold only some datasets (like the mini set): the others fall through.
    loader = _from_data_dir(name, env_dir, "LAB_DATA_DIR", strict=False) if env_dir else None
    if loader is None and name == "fashion_mnist" and DEBIAN_FASHION_MNIST_DIR.is_dir():
        loader = find_official_files(name, DEBIAN_FASHION_MNIST_DIR)
    return loader or _from_keras_cache(name)


def _from_data_dir(name: str, root: Path, origin: str, *, strict: bool) -> Loader | None:
    """A root of per-dataset subfolders. A missing or empty root is a typo, so it raises even when not strict."""
    where = f"the data folder {root} (from {origin})"
    fix = f"put the official files ({_EXPECTED[name]}) in {root / _SUBFOLDERS[name][0]}/"
    if not root.is_dir():
        raise DatasetError(f"{where} does not exist or is not a folder: {fix}")
    if not any(root.iterdir()):
        raise DatasetError(f"{where} is empty: {fix}")
    for folder in (root / sub for sub in _SUBFOLDERS[name]):
        if folder.is_dir():
            loader = find_official_files(name, folder)
            if loader is None:
                raise DatasetError(f"{folder} holds none of the {name} files: {fix}")
            return loader
    if strict:
        raise DatasetError(f"{where} has no {_SUBFOLDERS[name][0]}/ subfolder: {fix}, or leave data_dir unset")
    return None


def _from_keras_cache(name: str) -> Loader:
    """Keras's own cache layouts (hash-checked first), else a download into the cache."""
    cache = paths.keras_home() / "datasets"
    subdir, remotes = DOWNLOADS[name]
    if name == "cifar10":
        for folder in (cache / rel for rel in _KERAS_CIFAR_FOLDERS):
            if folder.is_dir():
                return lambda: _cached_cifar_folder(folder)
        for archive in (cache / rel for rel in _KERAS_CIFAR_ARCHIVES):
            if archive.is_file():
                _verify(archive, remotes[CIFAR_TAR])
                return lambda: load_cifar_tar(archive)
    folder = cache / subdir
    missing = {fname: remote for fname, remote in remotes.items() if not (folder / fname).is_file()}
    for fname in remotes.keys() - missing.keys():
        _verify(folder / fname, remotes[fname])
    if missing:
        _download(name, missing, folder)
    loader = find_official_files(name, folder)
    assert loader is not None, folder  # every file in `remotes` is now in `folder`
    origin = next(iter(remotes.values())).url.rsplit("/", 1)[0]
    return lambda: dataclasses.replace(loader(), source=f"{folder} (Keras cache of {origin})")


def _cached_cifar_folder(folder: Path) -> RawSplits:
    """A CIFAR folder Keras extracted into its cache, verified by structure, since no hash covers a folder.

    Keras extracts the hash-checked official archive, so anything but the official layout (all seven files,
    each batch with its official batch_label and filenames, each parsed to its end) means an interrupted
    extraction or an edited copy.
    """
    try:
        return load_cifar_folder(folder, official=True)
    except DatasetError as exc:
        raise DatasetError(
            f"the Keras cache folder {folder} is not a complete official CIFAR-10 extraction ({exc}): "
            "delete it and re-run, so the archive is downloaded and hash-checked again"
        ) from exc


def _verify(path: Path, remote: Remote) -> None:
    """Check a cached file ourselves: get_file would re-download it, and offline say only 'URL fetch failure'."""
    digests = file_digests(path)
    if not {remote.file_hash, *remote.also_accepted} & set(digests.values()):
        raise DatasetError(
            f"corrupt file {path} (sha256 {digests['sha256']}, expected {remote.file_hash}): delete it and re-run"
        )


def _download(name: str, files: dict[str, Remote], dest: Path) -> None:
    """Fetch with `keras.utils.get_file` into a temporary folder, then move into place: never a partial file."""
    from keras.utils import get_file  # imported here: importing keras takes seconds and is rarely needed

    created = _make_writable_dir(dest)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=dest)
    fname = next(iter(files))
    try:
        try:
            fetched = {}
            for fname, remote in files.items():
                fetched[fname] = get_file(
                    fname=fname, origin=remote.url, file_hash=remote.file_hash, cache_dir=tmp, cache_subdir="."
                )
            for fname, path in fetched.items():
                os.replace(path, dest / fname)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except Exception as exc:
        for folder in reversed(created):  # leave the cache as we found it
            folder.rmdir()
        raise DatasetError(
            f"could not download {fname} from {files[fname].url} ({exc}). Offline? Put the official files "
            f"({_EXPECTED[name]}) in <data_dir>/{_SUBFOLDERS[name][0]}/ and pass data_dir= or set LAB_DATA_DIR, "
            f"or copy them into {dest}"
        ) from exc


def _make_writable_dir(folder: Path) -> list[Path]:
    """Create `folder` and return the folders created; refuse a read-only cache (get_file would switch to /tmp)."""
    created = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(
            f"cannot create the Keras cache {folder} ({exc}): set KERAS_HOME to a writable folder"
        ) from exc
    if not os.access(folder, os.W_OK):
        raise DatasetError(f"the Keras cache {folder} is not writable: set KERAS_HOME to a writable folder")
    return created
