"""Load MNIST, Fashion-MNIST or CIFAR-10 reproducibly as a `Dataset`: a stratified, seeded validation split off
the official training rows, optional stratified row limits, read-only arrays with a fingerprint.

Where the files come from (local folders first, the network last) is lab_utils.data.sources.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from lab_utils.data import sources
from lab_utils.data.formats import RawSplits
from lab_utils.errors import DatasetError

DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion_mnist", "cifar10")
_ALIASES = {"fashion-mnist": "fashion_mnist", "cifar-10": "cifar10"}

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
IMAGE_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is ambiguous; compare fingerprint() instead
class Dataset:
    """One dataset split into train / validation / test; arrays are read-only so the fingerprint stays true."""

    name: str
    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """What a model's `Input` needs, so models never hard-code a dataset's shape."""
        height, width, channels = (int(d) for d in self.x_train.shape[1:])
        return height, width, channels

    @property
    def num_classes(self) -> int:
        """The width of the softmax layer."""
        return len(self.class_names)

    def _splits(self) -> tuple[tuple[str, np.ndarray, np.ndarray], ...]:
        """The three splits in one fixed order, so hashing and counting agree on it."""
        return (
            ("train", self.x_train, self.y_train),
            ("validation", self.x_val, self.y_val),
            ("test", self.x_test, self.y_test),
        )

    def __repr__(self) -> str:
        """A summary a notebook can show: sizes, shape and source, never the arrays."""
        return (
            f"Dataset({self.name!r}: {len(self.y_train):,} train / {len(self.y_val):,} validation / "
            f"{len(self.y_test):,} test images of {self.input_shape}, {self.num_classes} classes, "
            f"from {self.source})"
        )

    def fingerprint(self) -> str:
        """A sha256 of the exact arrays: the run cache keys on it, so a change of data or split invalidates runs.

        Computed once (the arrays are read-only): hashing full CIFAR-10 takes about half a second.
        """
        if "_fingerprint" not in self.__dict__:
            self.__dict__["_fingerprint"] = self._hash()
        return self.__dict__["_fingerprint"]

    def _hash(self) -> str:
        """The sha256 behind fingerprint()."""
        digest = hashlib.sha256(self.name.encode())
        for split, x, y in self._splits():
            for array in (x, y):
                digest.update(f"|{split}|{array.shape}|{array.dtype.str}|".encode())
                digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    def class_counts(self) -> dict[str, np.ndarray]:
        """Rows per class in each split, to show (and test) that the splits are stratified."""
        return {split: np.bincount(y, minlength=self.num_classes) for split, _, y in self._splits()}


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> Dataset:
    """Load `name` and split a stratified, seeded validation set off the official training rows.

    `train_limit` / `test_limit` keep a stratified subsample (every class present) for quick runs; the
    validation split comes after `train_limit`. The same arguments always give the same arrays.
    """
    name = _ALIASES.get(name, name)
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_NAMES)}")
    for limit, param in ((train_limit, "train_limit"), (test_limit, "test_limit")):
        _check_limit(limit, param, len(CLASS_NAMES[name]))
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val_fraction={val_fraction} must be in [0, 1): the share of training rows held out")
    raw = _checked(name, sources.locate(name, data_dir)())
    seed = int(seed)
    fit_rows, val_rows = _split_validation(raw.y_train, _subsample(raw.y_train, train_limit, seed), val_fraction, seed)
    test_rows = _subsample(raw.y_test, test_limit, 0)  # the same test images for every seed: paired comparisons
    return Dataset(
        name=name,
        class_names=raw.class_names or CLASS_NAMES[name],
        x_train=_take(raw.x_train, fit_rows),
        y_train=_take(raw.y_train, fit_rows),
        x_val=_take(raw.x_train, val_rows),
        y_val=_take(raw.y_train, val_rows),
        x_test=_take(raw.x_test, test_rows),
        y_test=_take(raw.y_test, test_rows),
        source=raw.source,
    )


def _check_limit(limit: int | None, param: str, n_classes: int) -> None:
    """A limit must keep one row per class, or stratification and per-class metrics break."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < n_classes):
        raise DatasetError(f"{param}={limit!r} is too small: use an integer >= {n_classes} (one row per class) or None")


def _checked(name: str, raw: RawSplits) -> RawSplits:
    """Add the MNISTs' channel axis; refuse arrays that are not this dataset (e.g. a mixed-up folder)."""
    names = raw.class_names or CLASS_NAMES[name]
    if len(names) != len(CLASS_NAMES[name]):
        raise DatasetError(f"{raw.source}: class names {names} are not the {len(CLASS_NAMES[name])} of {name}")
    arrays = {}
    for split in ("train", "test"):
        x, y = getattr(raw, f"x_{split}"), np.asarray(getattr(raw, f"y_{split}"))
        x = x[..., np.newaxis] if x.ndim == 3 else x
        if x.shape[1:] != IMAGE_SHAPES[name] or x.dtype != np.uint8:
            raise DatasetError(
                f"{raw.source}: {split} images are {x.shape[1:]} {x.dtype}, {name} needs {IMAGE_SHAPES[name]} uint8"
            )
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise DatasetError(f"{raw.source}: {split} labels span {y.min()}..{y.max()}, not 0..{len(names) - 1}")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y.astype(np.int32)
    return dataclasses.replace(raw, **arrays, class_names=names)


def _subsample(y: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Row indices of a stratified, seeded subsample, in file order (all rows when no limit applies)."""
    rows = np.arange(len(y))
    if limit is None or limit >= len(y):
        return rows
    kept, _ = train_test_split(rows, train_size=int(limit), stratify=y, random_state=seed)
    if len(np.unique(y[kept])) < len(np.unique(y)):  # sklearn may round a rare class down to zero rows
        raise DatasetError(f"a limit of {limit} rows would drop a rare class: raise train_limit / test_limit")
    return np.sort(kept)


def _split_validation(y: np.ndarray, rows: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `rows` into (train, validation), stratified by label and seeded."""
    if val_fraction == 0.0:
        return rows, rows[:0]
    try:
        fit, val = train_test_split(rows, test_size=val_fraction, stratify=y[rows], random_state=seed)
    except ValueError as exc:
        raise DatasetError(
            f"val_fraction={val_fraction} cannot split {len(rows)} rows with every class on both sides ({exc}): "
            "raise train_limit or val_fraction"
        ) from exc
    return np.sort(fit), np.sort(val)


def _take(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A read-only copy of `rows`: the fingerprint is the run cache key and must keep describing the data."""
    taken = array[rows]
    taken.setflags(write=False)
    return taken
