"""The keras.applications side of transfer learning: ImageNet bases, their preprocessing, and offline weights.

The models take raw 0..255 pixels and preprocess them inside the model with the base's own
`keras.applications.<net>.preprocess_input`, called on the model's tensor (Keras records its few operations —
three slices, a stack and an add of the ImageNet mean — in the model's config, so the model saves, clones and
loads like any other). `imagenet_or_random` turns a notebook's `weights = "imagenet"` into what its profile can
use on this machine, so the model code itself stays `keras.applications.ResNet50(..., weights=weights)`.

keras.applications downloads the no-top weights with `keras.utils.get_file` into `KERAS_HOME/models/`. Offline,
that fails with a bare "URL fetch failure" after the whole base was built, and a cached file whose hash differs
from the official one is thrown away and re-downloaded. Here:

- a file already in `keras_home()/models/` under the official name is handed to keras.applications as a path,
  without a hash check, so a file copied there by hand (or saved from a fine-tuned base) is used as it is;
  only if it cannot be loaded is its md5 compared with the official one, to say what is wrong;
- otherwise `get_file` downloads it, before the base is built, and failure raises `WeightsError` saying which
  file to copy where, and the alternatives (`weights=<path>`, `weights=None`); no partial file stays behind.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from lab_utils.errors import ConfigError, WeightsError
from lab_utils.paths import keras_home

__all__ = [
    "IMAGENET_BASES",
    "IMAGENET_BGR_MEAN",
    "CaffePreprocessing",
    "ImageNetBase",
    "build_base",
    "check_input_shape",
    "holds_imagenet_weights",
    "imagenet_or_random",
    "imagenet_weights_available",
    "resolve_weights",
]

# The per-channel ImageNet means, in BGR order, that the "caffe" preprocessing of VGG and ResNet subtracts.
IMAGENET_BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)

# urllib waits forever by default on a network that silently drops packets; DNS failure (the usual offline
# case) fails in milliseconds anyway. Applied per connect/read, so a slow but live download is not cut off.
DOWNLOAD_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ImageNetBase:
    """Where keras.applications gets one base's no-top ImageNet weights (copied from its source, keras 3.15)."""

    constructor: Callable[..., keras.Model]
    preprocess_input: Callable[..., Any]  # keras.applications.<net>.preprocess_input: what the weights expect
    file_name: str
    origin: str
    md5: str
    approx_mb: int


_KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications"

IMAGENET_BASES: dict[str, ImageNetBase] = {
    "vgg19": ImageNetBase(  # keras/src/applications/vgg19.py, WEIGHTS_PATH_NO_TOP
        constructor=keras.applications.VGG19,
        preprocess_input=keras.applications.vgg19.preprocess_input,
        file_name="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin=f"{_KERAS_WEIGHTS}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="253f8cb515780f3b799900260a226db6",
        approx_mb=80,
    ),
    "resnet50": ImageNetBase(  # keras/src/applications/resnet.py, WEIGHTS_HASHES["resnet50"][1]
        constructor=keras.applications.ResNet50,
        preprocess_input=keras.applications.resnet50.preprocess_input,
        file_name="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin=f"{_KERAS_WEIGHTS}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="4d473c1dd8becc155b73f8504c6f6626",
        approx_mb=95,
    ),
}


@keras.saving.register_keras_serializable(package="lab_utils")
class CaffePreprocessing(keras.layers.Layer):
    """ImageNet "caffe" preprocessing as one layer: RGB → BGR, then subtract the BGR channel means.

    The same numbers as `keras.applications.vgg19.preprocess_input` / `resnet50.preprocess_input`. The builders
    and notebooks now call those functions in the model instead (standard Keras); this layer stays registered so
    that models saved with it still load. Channels-last only.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_BGR_MEAN, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)

    def call(self, inputs):
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self.mean, dtype=bgr.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": list(self.mean)}


def _lookup(base: str) -> ImageNetBase:
    try:
        return IMAGENET_BASES[base]
    except KeyError:
        raise ConfigError(f"Unknown transfer base {base!r}; known bases: {sorted(IMAGENET_BASES)}") from None


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound urllib's waits unless the caller already chose a default socket timeout."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _alternatives(spec: ImageNetBase, target: Path) -> str:
    return (
        f"copy {spec.file_name} (~{spec.approx_mb} MB, md5 {spec.md5}, from the URL above) into {target.parent}/ "
        f"so that {target} exists, or pass weights='<path to a .h5 file>' to load a local file, or "
        f"weights=None to start from random weights."
    )


def _download(spec: ImageNetBase) -> Path:
    """Fetch the official file into `keras_home()/models/` with keras's own downloader, or raise WeightsError."""
    target = keras_home() / "models" / spec.file_name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(
            f"Cannot create the Keras cache folder {target.parent} ({exc}) to download {spec.origin} into. "
            f"Point KERAS_HOME to a writable folder, or {_alternatives(spec, target)}"
        ) from exc
    # get_file silently downloads into /tmp/.keras when the cache folder is not writable: refuse instead.
    if not os.access(target.parent, os.W_OK):
        raise WeightsError(
            f"The Keras cache folder {target.parent} is not writable, so {spec.origin} cannot be downloaded "
            f"into it. Point KERAS_HOME to a writable folder, or {_alternatives(spec, target)}"
        )
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            # cache_dir explicitly: keras reads KERAS_HOME once at import, keras_home() reads it now.
            path = keras.utils.get_file(
                fname=spec.file_name,
                origin=spec.origin,
                cache_dir=str(keras_home()),
                cache_subdir="models",
                file_hash=spec.md5,
                hash_algorithm="md5",
            )
    except BaseException as exc:
        # The file was absent before the attempt, so whatever is there now is half-written (or failed the hash).
        target.unlink(missing_ok=True)
        if not isinstance(exc, Exception):  # KeyboardInterrupt and friends: clean up, then let them through
            raise
        # keras wraps urllib's error in a bare Exception that repeats the URL; its reason is the useful part.
        reason = getattr(exc.__context__, "reason", None) or exc
        raise WeightsError(
            f"Could not download the ImageNet weights for {spec.constructor.__name__} from {spec.origin} "
            f"({reason}). Without internet access, {_alternatives(spec, target)}"
        ) from exc
    return Path(path)


def resolve_weights(base: str, weights: str | os.PathLike | None) -> str | None:
    """Turn `weights` ("imagenet", None or a path) into None or an existing local file for keras.applications.

    "imagenet" uses the file cached in `keras_home()/models/` if present (no hash check, see the module
    docstring), and otherwise downloads it; offline that raises WeightsError within milliseconds.
    """
    spec = _lookup(base)
    if weights is None:
        return None
    if weights == "imagenet":
        cached = keras_home() / "models" / spec.file_name
        return str(cached if cached.is_file() else _download(spec))
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"The weights file {path} does not exist. Pass weights='imagenet' (the official file, downloaded "
            f"or cached in {keras_home() / 'models'}), None (random weights) or the path to an existing file."
        )
    return str(path)


def imagenet_or_random(
    weights: str | os.PathLike | None, profile: Any, bases: Sequence[str] = tuple(IMAGENET_BASES)
) -> str | os.PathLike | None:
    """The `weights=` a notebook hands keras.applications for `bases` under `profile` (a Lab's profile).

    "imagenet" stays "imagenet" where the profile trains from ImageNet weights and every base's file is cached in
    `keras_home()/models/` (checked against its official md5, so that keras.applications finds it rather than
    downloading it again) or downloads now. It becomes None — random weights, said in one printed line — under a
    profile that trains without them (`smoke`) or that falls back to random weights offline (`lesson`), as the
    profile's catalogue does for the batch workers. Under `quick` and `full` a missing file raises WeightsError
    saying where to copy it. None or the path of a weights file pass through unchanged.
    """
    if weights != "imagenet":
        return weights
    if not profile.imagenet_weights:
        print(
            f"profile {profile.name!r} trains without ImageNet files: weights = None (random bases, so the "
            "numbers are not transfer learning; the tables' `base` column says so)",
            flush=True,
        )
        return None
    for base in bases:
        spec = _lookup(base)
        if profile.imagenet_fallback and not imagenet_weights_available(base):  # it printed why
            return None
        cached = Path(resolve_weights(base, "imagenet"))  # downloads it now, or raises WeightsError
        if cached.name == spec.file_name and (actual := _md5(cached)) != spec.md5:
            raise WeightsError(
                f"{cached} has md5 {actual}, the official file's is {spec.md5}: keras.applications would download "
                f"it again (offline: 'URL fetch failure'). Delete it and {_alternatives(spec, cached)}"
            )
    return "imagenet"


def imagenet_weights_available(base: str) -> bool:
    """Whether the base's ImageNet file is cached or downloads now: a CPU lesson falls back to random weights
    without it (and says so in its tables), where `quick` and `full` stop with WeightsError."""
    return _available(base, str(keras_home()))


@functools.cache
def _available(base: str, home: str) -> bool:
    """Cached per process and Keras home: offline, the download attempt fails within milliseconds."""
    spec = _lookup(base)
    if (Path(home) / "models" / spec.file_name).is_file():
        return True
    try:
        _download(spec)
    except WeightsError as exc:
        reason = str(exc).split(" (", 1)[-1].split(")", 1)[0]
        print(
            f"{base}: no ImageNet weights in {Path(home) / 'models'} and the download failed ({reason}); "
            f"this profile starts {base} from random weights (see the tables' `base` column). Copy "
            f"{spec.file_name} there to use ImageNet weights.",
            flush=True,
        )
        return False
    return True


def holds_imagenet_weights(model: keras.Model, base: str) -> bool:
    """Whether `model`'s keras.applications base (its nested model) starts from the ImageNet file: a run records
    what its base held, whatever weights the catalogue asked for (`weights = None` in a notebook is random)."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.weights]
    if not nested or not imagenet_weights_available(base):
        return False
    kernel = keras.ops.convert_to_numpy(nested[0].weights[0].value)
    reference = _imagenet_first_kernel(base, str(keras_home()))
    return kernel.shape == reference.shape and bool((kernel == reference).all())


@functools.cache
def _imagenet_first_kernel(base: str, home: str) -> Any:
    """The first convolution kernel of the ImageNet base: enough to tell ImageNet weights from random ones."""
    return keras.ops.convert_to_numpy(build_base(base, (32, 32, 3), weights="imagenet").weights[0].value)


def check_input_shape(base: str, input_shape: Sequence[int]) -> None:
    """Raise ConfigError unless `input_shape` is (height, width, 3) with both sides at least 32, as the bases need."""
    if len(input_shape) != 3 or input_shape[-1] != 3 or min(input_shape[:2]) < 32:
        raise ConfigError(
            f"{base} needs RGB images of at least 32×32 (height, width, 3); got input_shape={tuple(input_shape)}. "
            f"Grey-scale images such as MNIST must be converted to 3 channels first."
        )


def build_base(
    base: str, input_shape: tuple[int, int, int], *, weights: str | os.PathLike | None = "imagenet"
) -> keras.Model:
    """The keras.applications convolutional base (`include_top=False`), weights loaded as `resolve_weights` says."""
    spec = _lookup(base)
    check_input_shape(base, input_shape)
    local = resolve_weights(base, weights)
    try:
        return spec.constructor(include_top=False, weights=local, input_shape=tuple(input_shape))
    except (OSError, ValueError, KeyError) as exc:  # h5py and keras's loaders raise these on a wrong file
        if local is None:
            raise
        hint = ""
        if Path(local).name == spec.file_name and (actual := _md5(Path(local))) != spec.md5:
            hint = (
                f" Its md5 is {actual}, the official file's is {spec.md5}: it is probably truncated or another "
                f"file; delete it and copy the official one from {spec.origin}."
            )
        raise WeightsError(
            f"Cannot load {local} into a {base} base without its top (include_top=False): {exc}.{hint}"
        ) from exc
