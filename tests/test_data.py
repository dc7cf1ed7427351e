"""The data layer on real files only: the mini MNIST / CIFAR-10 sets, Debian's full Fashion-MNIST, and
damaged or hostile copies of them. Downloads go to `file://` URLs of real files, never the network."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lab_utils.data import sources
from lab_utils.data.datasets import DATASET_NAMES, Dataset, load_dataset
from lab_utils.data.formats import IDX_GZ, load_cifar_folder, parse_cifar_batch, read_idx_pair
from lab_utils.data.sources import Remote
from lab_utils.errors import DatasetError

MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mini"
MINI_CIFAR = MINI / "cifar10" / "cifar-10-batches-py"
CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
needs_mini = pytest.mark.skipif(not MINI.is_dir(), reason=f"the mini data set is not at {MINI}")


@pytest.fixture(autouse=True)
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty Keras cache and no LAB_DATA_DIR, so none touches ~/.keras."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("LAB_DATA_DIR", raising=False)
    return home


@pytest.fixture(scope="module")
def mnist_mini() -> Dataset:
    """Loaded once per module: several tests compare against the default split."""
    if not MINI.is_dir():
        pytest.skip(f"the mini data set is not at {MINI}")
    return load_dataset("mnist", MINI)


@pytest.fixture(scope="module")
def cifar_mini() -> Dataset:
    """Loaded once per module: the archive and cache tests must reproduce exactly these arrays."""
    if not MINI.is_dir():
        pytest.skip(f"the mini data set is not at {MINI}")
    return load_dataset("cifar10", MINI)


def files_under(folder: Path) -> dict[str, int]:
    """Every file below `folder` with its size: equal before and after means nothing was written."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def copy_mnist(root: Path, *, decompress: bool = False) -> Path:
    """A writable copy of the mini MNIST folder under `root/mnist`, optionally as uncompressed IDX."""
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for name in IDX_GZ:
        if decompress:
            (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress((MINI / "mnist" / name).read_bytes()))
        else:
            shutil.copy(MINI / "mnist" / name, folder / name)
    return folder


def copy_cifar(root: Path) -> Path:
    """A writable copy of the mini CIFAR batches under `root/cifar10/cifar-10-batches-py`."""
    return Path(shutil.copytree(MINI_CIFAR, root / "cifar10" / "cifar-10-batches-py"))


def make_cifar_tar(path: Path) -> Path:
    """A `cifar-10-python.tar.gz` in the official layout, from the mini batches."""
    with tarfile.open(path, "w:gz") as archive:
        for member in sorted(MINI_CIFAR.iterdir()):
            archive.add(member, arcname=f"cifar-10-batches-py/{member.name}")
    return path


def sha256(path: Path) -> str:
    """The hash a test passes as `file_hash`, as get_file would check it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sorted_rows(images: np.ndarray) -> list[bytes]:
    """Images as a multiset, to compare splits whatever their order."""
    return sorted(row.tobytes() for row in images.reshape(len(images), -1))


def expect_error(match: str, *watched: Path, **kwargs: object) -> DatasetError:
    """Load, expect DatasetError matching `match`, and check no file appeared or changed under `watched`.

    The cache checked is `$KERAS_HOME/datasets`: importing keras writes `$KERAS_HOME/keras.json` itself.
    """
    before = [files_under(folder) for folder in watched]
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(**kwargs)  # type: ignore[arg-type]
    assert [files_under(folder) for folder in watched] == before
    assert files_under(Path(os.environ["KERAS_HOME"]) / "datasets") == {}
    return info.value


# ---------------------------------------------------------------- the mini sets


@needs_mini
def test_mnist_mini_loads_the_official_train_rows_split_into_train_and_validation(mnist_mini: Dataset) -> None:
    d = mnist_mini
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (6400, 1600, 2000)
    assert d.x_train.shape[1:] == d.x_val.shape[1:] == d.x_test.shape[1:] == (28, 28, 1) == d.input_shape
    assert {a.dtype for a in (d.x_train, d.x_val, d.x_test)} == {np.dtype(np.uint8)}
    assert {a.dtype for a in (d.y_train, d.y_val, d.y_test)} == {np.dtype(np.int32)}
    assert set(np.unique(d.y_train)) == set(range(10)) and d.y_test.max() == 9
    assert d.class_names == tuple("0123456789") and d.num_classes == 10
    assert str(MINI / "mnist") in d.source
    assert not d.x_train.flags.writeable  # the fingerprint must keep describing the data


@needs_mini
def test_train_and_validation_partition_the_official_train_rows_stratified(mnist_mini: Dataset) -> None:
    x, y = read_idx_pair(MINI / "mnist" / IDX_GZ[0], MINI / "mnist" / IDX_GZ[1])
    assert sorted_rows(np.concatenate([mnist_mini.x_train, mnist_mini.x_val])) == sorted_rows(x)
    counts = mnist_mini.class_counts()
    total = np.bincount(y, minlength=10)
    assert np.array_equal(counts["train"] + counts["validation"], total)
    assert np.all(np.abs(counts["validation"] - 0.2 * total) <= 1)  # stratified: within one row per class
    assert np.array_equal(counts["test"], np.bincount(mnist_mini.y_test, minlength=10))


@needs_mini
def test_same_seed_gives_the_same_split_and_another_seed_another(mnist_mini: Dataset) -> None:
    again = load_dataset("mnist", MINI, seed=0)
    other = load_dataset("mnist", MINI, seed=1)
    assert np.array_equal(again.x_val, mnist_mini.x_val) and np.array_equal(again.y_train, mnist_mini.y_train)
    assert again.fingerprint() == mnist_mini.fingerprint()
    assert not np.array_equal(other.x_val, mnist_mini.x_val)
    assert np.array_equal(other.class_counts()["validation"], mnist_mini.class_counts()["validation"])
    assert np.array_equal(other.x_test, mnist_mini.x_test)  # the seed never touches the official test rows
    assert other.fingerprint() != mnist_mini.fingerprint()
    assert len(mnist_mini.fingerprint()) == 64
    assert load_dataset("mnist", MINI, train_limit=4000).fingerprint() != mnist_mini.fingerprint()


@needs_mini
def test_lab_data_dir_is_used_when_no_folder_is_given(monkeypatch: pytest.MonkeyPatch, mnist_mini: Dataset) -> None:
    monkeypatch.setenv("LAB_DATA_DIR", str(MINI))
    assert load_dataset("mnist").fingerprint() == mnist_mini.fingerprint()


@needs_mini
def test_cifar_mini_loads_any_batch_size_with_the_archive_class_names(cifar_mini: Dataset) -> None:
    d = cifar_mini
    # 5 x 761 = 3,805 official train rows; sklearn rounds the validation share up: ceil(0.2 * 3805) = 761.
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (3044, 761, 761)
    assert d.input_shape == (32, 32, 3) and d.x_train.dtype == np.uint8
    assert d.class_names == CIFAR_NAMES
    counts = d.class_counts()
    assert np.all(np.abs(counts["validation"] - 0.2 * (counts["train"] + counts["validation"])) <= 1)
    assert load_dataset("cifar-10", MINI).fingerprint() == d.fingerprint()


@needs_mini
def test_cifar_images_are_channels_last_like_keras_own_loader() -> None:
    from keras.src.datasets.cifar import load_batch

    ours = load_cifar_folder(MINI_CIFAR)
    for i, name in enumerate(["data_batch_1", "data_batch_5"]):
        start = 761 * (4 * i)
        x_keras, y_keras = load_batch(str(MINI_CIFAR / name))
        assert np.array_equal(ours.x_train[start : start + 761], x_keras.transpose(0, 2, 3, 1))
        assert np.array_equal(ours.y_train[start : start + 761], y_keras)
    x_keras, _ = load_batch(str(MINI_CIFAR / "test_batch"))
    assert np.array_equal(ours.x_test, x_keras.transpose(0, 2, 3, 1))
    # Independent of Keras: the red plane is the first 1,024 bytes of a row, row-major.
    raw = pickle.loads((MINI_CIFAR / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    assert np.array_equal(ours.x_test[0, :, :, 0], raw[0, :1024].reshape(32, 32))


@needs_mini
def test_limits_keep_every_class_and_a_large_limit_keeps_all(cifar_mini: Dataset) -> None:
    d = load_dataset("cifar10", MINI, train_limit=50, test_limit=10, seed=3)
    assert len(d.x_train) + len(d.x_val) == 50 and len(d.x_test) == 10
    assert all(np.all(c > 0) for c in d.class_counts().values())
    assert np.array_equal(d.class_counts()["test"], np.ones(10))
    big = load_dataset("cifar10", MINI, train_limit=10**6, test_limit=761)
    assert big.fingerprint() == cifar_mini.fingerprint()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train_limit": 9}, "train_limit=9 is too small"),
        ({"test_limit": 0}, "test_limit=0 is too small"),
        ({"train_limit": -5}, "train_limit=-5"),
        ({"train_limit": 10}, "val_fraction=0.2 cannot split 10 rows"),
        ({"val_fraction": 1.0}, r"val_fraction=1.0 must be in \[0, 1\)"),
    ],
)
@needs_mini
def test_bad_split_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    expect_error(match, name="mnist", data_dir=MINI, **kwargs)


def test_fashion_mnist_full_from_debian_even_with_a_lab_data_dir_that_lacks_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not sources.DEBIAN_FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({sources.DEBIAN_FASHION_MNIST_DIR})")
    if MINI.is_dir():
        monkeypatch.setenv("LAB_DATA_DIR", str(MINI))  # holds mnist/ and cifar10/ only: must fall through
    d = load_dataset("fashion-mnist")
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (48000, 12000, 10000)
    assert np.array_equal(d.class_counts()["validation"], np.full(10, 1200))  # 6,000 per class, exactly 20%
    assert d.input_shape == (28, 28, 1) and d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"
    assert d.name == "fashion_mnist" and str(sources.DEBIAN_FASHION_MNIST_DIR) in d.source


# ---------------------------------------------------------------- bad inputs


def test_unknown_name_lists_the_known_ones() -> None:
    expect_error("unknown dataset 'imagenet': choose one of mnist, fashion_mnist, cifar10", name="imagenet")
    assert DATASET_NAMES == ("mnist", "fashion_mnist", "cifar10")


def test_missing_empty_or_incomplete_data_folders_name_the_folder_and_the_files(tmp_path: Path) -> None:
    expect_error(r"does-not-exist \(from data_dir\) does not exist", name="mnist", data_dir=tmp_path / "does-not-exist")
    (tmp_path / "empty").mkdir()
    expect_error(
        r"empty \(from data_dir\) is empty: put the official files", tmp_path, name="mnist", data_dir=tmp_path / "empty"
    )
    (tmp_path / "root" / "cifar10").mkdir(parents=True)
    (tmp_path / "root" / "cifar10" / "notes.txt").write_text("no batches here")
    expect_error(
        "has no mnist/ subfolder: put the official files .*train-images-idx3-ubyte.gz",
        tmp_path,
        name="mnist",
        data_dir=tmp_path / "root",
    )
    expect_error(
        "holds none of the cifar10 files: .*cifar-10-python.tar.gz",
        tmp_path,
        name="cifar10",
        data_dir=tmp_path / "root",
    )


def test_a_missing_lab_data_dir_is_an_error_not_a_silent_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path / "typo"))
    expect_error(r"typo \(from LAB_DATA_DIR\) does not exist", name="mnist")


@needs_mini
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_gzip_is_reported_with_its_path(tmp_path: Path, damage: str) -> None:
    images = copy_mnist(tmp_path / "data") / IDX_GZ[0]
    raw = bytearray(images.read_bytes())
    if damage == "truncate":
        del raw[len(raw) // 2 :]
    else:
        raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(b ^ 0xFF for b in raw[len(raw) // 2 : len(raw) // 2 + 64])
    images.write_bytes(bytes(raw))
    expect_error(
        f"cannot read {re.escape(str(images))}.*truncated or corrupt",
        tmp_path,
        name="mnist",
        data_dir=tmp_path / "data",
    )


@needs_mini
def test_uncompressed_idx_loads_and_a_wrong_magic_or_count_is_refused(tmp_path: Path, mnist_mini: Dataset) -> None:
    root = tmp_path / "data"
    folder = copy_mnist(root, decompress=True)
    assert load_dataset("mnist", root).fingerprint() == mnist_mini.fingerprint()
    labels = folder / "train-labels-idx1-ubyte"
    good = labels.read_bytes()
    labels.write_bytes((2051).to_bytes(4, "big") + good[4:])
    expect_error(
        f"{re.escape(str(labels))} has IDX magic number 2051, expected 2049", tmp_path, name="mnist", data_dir=root
    )
    labels.write_bytes(good[:-100])
    expect_error("holds 7908 bytes but its header .*needs 8008", tmp_path, name="mnist", data_dir=root)
    shutil.copy(folder / "t10k-labels-idx1-ubyte", labels)
    expect_error("has 8000 images but .* has 2000 labels", tmp_path, name="mnist", data_dir=root)
    (folder / "t10k-images-idx3-ubyte").unlink()
    expect_error("lacks t10k-images-idx3-ubyte: copy all four", tmp_path, name="mnist", data_dir=root)


@needs_mini
def test_a_truncated_cifar_batch_is_reported(tmp_path: Path) -> None:
    batch = copy_cifar(tmp_path / "data") / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100_000])
    expect_error(
        "cannot unpickle .*data_batch_3.*truncated or corrupt", tmp_path, name="cifar10", data_dir=tmp_path / "data"
    )


class _Evil:
    """A pickle gadget: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return os.system, (f"touch {self.marker}",)


@needs_mini
def test_a_malicious_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    batch = copy_cifar(tmp_path / "data") / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=2))
    expect_error(
        r"refusing to unpickle (posix|os)\.system from .*data_batch_1: the file may be corrupt or malicious",
        tmp_path,
        name="cifar10",
        data_dir=tmp_path / "data",
    )
    assert not marker.exists()


@needs_mini
def test_python3_protocol2_batches_with_str_keys_load_but_bad_layouts_do_not() -> None:
    x, y = load_cifar_folder(MINI_CIFAR).x_test, load_cifar_folder(MINI_CIFAR).y_test
    planar = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), 3072)
    for protocol in (2, 4):  # protocol 2 from Python 3 spells bytes as _codecs.encode
        got_x, got_y = parse_cifar_batch(pickle.dumps({"data": planar, "labels": y.tolist()}, protocol=protocol), "t")
        assert np.array_equal(got_x, x) and np.array_equal(got_y, y)
    bad = {
        "lacks the keys \\['labels'\\]": {"data": planar},
        "multiple of 3072": {"data": planar.reshape(-1)[:-1], "labels": y.tolist()},
        "761 images but labels of shape \\(760,\\)": {"data": planar, "labels": y.tolist()[:-1]},
    }
    for match, batch in bad.items():
        with pytest.raises(DatasetError, match=match):
            parse_cifar_batch(pickle.dumps(batch, protocol=2), "t")


@needs_mini
def test_cifar_archive_is_read_in_memory_and_a_truncated_one_is_refused(tmp_path: Path, cifar_mini: Dataset) -> None:
    (tmp_path / "data" / "cifar10").mkdir(parents=True)
    archive = make_cifar_tar(tmp_path / "data" / "cifar10" / "cifar-10-python.tar.gz")
    before = files_under(tmp_path)
    assert load_dataset("cifar10", tmp_path / "data").fingerprint() == cifar_mini.fingerprint()
    assert files_under(tmp_path) == before  # nothing extracted
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    expect_error(
        "cannot read the archive .*cifar-10-python.tar.gz", tmp_path, name="cifar10", data_dir=tmp_path / "data"
    )


# ---------------------------------------------------------------- Keras cache and download


def point_download(monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, tuple[Path, str]]) -> None:
    """Replace `name`'s official URLs by `file://` URLs of local files, with the given hashes."""
    subdir, _ = sources.DOWNLOADS[name]
    remotes = {fname: Remote(path.as_uri(), file_hash) for fname, (path, file_hash) in files.items()}
    monkeypatch.setitem(sources.DOWNLOADS, name, (subdir, remotes))


@pytest.fixture
def mnist_npz(tmp_path: Path) -> Path:
    """A Keras-style `mnist.npz` written from the mini IDX arrays."""
    x_train, y_train = read_idx_pair(*(MINI / "mnist" / n for n in IDX_GZ[:2]))
    x_test, y_test = read_idx_pair(*(MINI / "mnist" / n for n in IDX_GZ[2:]))
    path = tmp_path / "server" / "mnist.npz"
    path.parent.mkdir()
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@needs_mini
def test_download_is_verified_cached_and_then_used_offline(
    monkeypatch: pytest.MonkeyPatch, keras_home: Path, mnist_npz: Path, mnist_mini: Dataset
) -> None:
    point_download(monkeypatch, "mnist", {"mnist.npz": (mnist_npz, sha256(mnist_npz))})
    d = load_dataset("mnist")
    assert d.fingerprint() == mnist_mini.fingerprint()
    assert files_under(keras_home / "datasets") == {"mnist.npz": mnist_npz.stat().st_size}  # no temp folder left
    assert "Keras cache" in d.source
    point_download(monkeypatch, "mnist", {"mnist.npz": (mnist_npz.with_name("gone.npz"), sha256(mnist_npz))})
    assert load_dataset("mnist").fingerprint() == mnist_mini.fingerprint()


@needs_mini
def test_a_download_with_the_wrong_hash_leaves_nothing_in_the_cache(
    monkeypatch: pytest.MonkeyPatch, keras_home: Path, mnist_npz: Path
) -> None:
    point_download(monkeypatch, "mnist", {"mnist.npz": (mnist_npz, "0" * 64)})
    expect_error("could not download mnist.npz .*Incomplete or corrupted file", mnist_npz.parent, name="mnist")
    assert not (keras_home / "datasets").exists()


def test_an_unreachable_url_says_how_to_provide_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keras_home: Path
) -> None:
    point_download(monkeypatch, "mnist", {"mnist.npz": (tmp_path / "nowhere" / "mnist.npz", "0" * 64)})
    expect_error(
        r"could not download mnist.npz from file://.*Offline\? Put the official files .*LAB_DATA_DIR", name="mnist"
    )
    assert not (keras_home / "datasets").exists()


def test_a_corrupt_cached_file_is_named_instead_of_redownloaded(keras_home: Path) -> None:
    cached = keras_home / "datasets" / "mnist.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the real mnist.npz")
    match = f"corrupt file {re.escape(str(cached))} \\(sha256 .*expected 731c5ac6.*delete it and re-run"
    with pytest.raises(DatasetError, match=match):
        load_dataset("mnist")
    assert cached.read_bytes() == b"not the real mnist.npz"


def test_an_unwritable_cache_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "a_file" / "keras"))
    point_download(monkeypatch, "mnist", {"mnist.npz": (tmp_path / "nowhere.npz", "0" * 64)})
    with pytest.raises(DatasetError, match="set KERAS_HOME to a writable folder"):
        load_dataset("mnist")


@needs_mini
def test_cifar_archive_download_and_keras_own_cache_layout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keras_home: Path, cifar_mini: Dataset
) -> None:
    (tmp_path / "server").mkdir()
    archive = make_cifar_tar(tmp_path / "server" / "cifar-10-python.tar.gz")
    point_download(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": (archive, sha256(archive))})
    assert load_dataset("cifar10").fingerprint() == cifar_mini.fingerprint()
    assert list(files_under(keras_home / "datasets")) == ["cifar-10-python.tar.gz"]
    shutil.rmtree(keras_home)
    # What keras.datasets.cifar10.load_data() (3.15.1) leaves behind: used as is, no download.
    shutil.copytree(MINI_CIFAR, keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    point_download(monkeypatch, "cifar10", {"cifar-10-python.tar.gz": (tmp_path / "gone.tar.gz", "0" * 64)})
    assert load_dataset("cifar10").fingerprint() == cifar_mini.fingerprint()


def test_fashion_mnist_downloads_all_four_files_or_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keras_home: Path
) -> None:
    debian, real_table = sources.DEBIAN_FASHION_MNIST_DIR, sources.DOWNLOADS["fashion_mnist"]
    if not debian.is_dir():
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({debian})")
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    files = {name: (debian / name, sha256(debian / name)) for name in IDX_GZ}
    point_download(monkeypatch, "fashion_mnist", {**files, IDX_GZ[3]: (tmp_path / "missing.gz", "0" * 64)})
    expect_error("could not download t10k-labels-idx1-ubyte.gz", debian, name="fashion_mnist")
    assert not (keras_home / "datasets").exists()
    point_download(monkeypatch, "fashion_mnist", files)
    d = load_dataset("fashion_mnist", val_fraction=0.1)
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (54000, 6000, 10000)
    assert sorted(files_under(keras_home / "datasets")) == sorted(f"fashion-mnist/{name}" for name in IDX_GZ)
    # Debian's repacked files in the cache pass the real hash table (official md5 or Debian sha256).
    monkeypatch.setitem(sources.DOWNLOADS, "fashion_mnist", real_table)
    assert load_dataset("fashion_mnist", val_fraction=0.1).fingerprint() == d.fingerprint()
