"""Model builders, table-driven like keras's applications_test.py: shape, layer names, hand-computed parameters."""

from __future__ import annotations

import os
import re
import socket
import warnings

import keras
import numpy as np
import pytest

from lab_utils.errors import ConfigError, WeightsError
from lab_utils.models.builders import MODEL_BUILDERS, build_model, build_simple_cnn, build_transfer_model, count_params
from lab_utils.models.transfer import IMAGENET_BASES, CaffePreprocessing

MNIST = (28, 28, 1)
CIFAR = (32, 32, 3)


def conv(k: int, cin: int, cout: int) -> int:
    """A k×k convolution: one kernel per (input, output) channel pair, plus one bias per output channel."""
    return k * k * cin * cout + cout


def dense(nin: int, nout: int) -> int:
    return nin * nout + nout


def bn(c: int) -> int:
    """gamma, beta (trainable) + moving mean, moving variance (non-trainable)."""
    return 4 * c


def vgg_block_names(i: int, batch_norm: bool, dropout: bool) -> list[str]:
    convs = [f"block{i}_conv1", f"block{i}_bn1", f"block{i}_conv2", f"block{i}_bn2"]
    names = [n for n in convs if batch_norm or "_bn" not in n] + [f"block{i}_pool"]
    return names + [f"block{i}_dropout"] * dropout


STEM = ["image", "rescale"]
SIMPLE_CNN_BODY = ["conv1", "pool1", "conv2", "conv3", "pool2", "flatten"]
# The three VGG blocks' six 3×3 convolutions (32, 64, 128 filters) on RGB images.
VGG_CONVS = conv(3, 3, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64) + conv(3, 64, 128) + conv(3, 128, 128)

# (id, architecture, kwargs, input shape, layer names in order, total params, non-trainable params)
CASES = [
    (
        "mlp-mnist",
        "mlp",
        {},
        MNIST,
        [*STEM, "flatten", "fc1", "predictions"],
        dense(28 * 28 * 1, 128) + dense(128, 10),
        0,
    ),
    (
        "mlp-cifar-64",
        "mlp",
        {"hidden_units": 64, "num_classes": 100},
        CIFAR,
        [*STEM, "flatten", "fc1", "predictions"],
        dense(32 * 32 * 3, 64) + dense(64, 100),
        0,
    ),
    (
        # 28 → conv 26 → pool 13 → conv 11 → conv 9 → pool 4
        "simple_cnn-mnist",
        "simple_cnn",
        {},
        MNIST,
        STEM + SIMPLE_CNN_BODY + ["fc1", "predictions"],
        conv(3, 1, 32) + conv(3, 32, 64) + conv(3, 64, 64) + dense(4 * 4 * 64, 128) + dense(128, 10),
        0,
    ),
    (
        # 32 → conv 30 → pool 15 → conv 13 → conv 11 → pool 5
        "simple_cnn-cifar",
        "simple_cnn",
        {},
        CIFAR,
        STEM + SIMPLE_CNN_BODY + ["fc1", "predictions"],
        conv(3, 3, 32) + conv(3, 32, 64) + conv(3, 64, 64) + dense(5 * 5 * 64, 128) + dense(128, 10),
        0,
    ),
    (
        "simple_cnn-cifar-dropout",
        "simple_cnn",
        {"dropout": 0.5},
        CIFAR,
        STEM + SIMPLE_CNN_BODY + ["dropout1", "fc1", "dropout2", "predictions"],
        conv(3, 3, 32) + conv(3, 32, 64) + conv(3, 64, 64) + dense(5 * 5 * 64, 128) + dense(128, 10),
        0,
    ),
    (
        # same-padded convs; three pools: 32 → 16 → 8 → 4
        "vgg_blocks-cifar",
        "vgg_blocks",
        {},
        CIFAR,
        [
            *STEM,
            *(name for i in (1, 2, 3) for name in vgg_block_names(i, batch_norm=False, dropout=True)),
            "flatten",
            "fc1",
            "fc1_dropout",
            "predictions",
        ],
        VGG_CONVS + dense(4 * 4 * 128, 128) + dense(128, 10),
        0,
    ),
    (
        "vgg_blocks-cifar-bn",
        "vgg_blocks",
        {"batch_norm": True},
        CIFAR,
        [
            *STEM,
            *(name for i in (1, 2, 3) for name in vgg_block_names(i, batch_norm=True, dropout=True)),
            "flatten",
            "fc1",
            "fc1_bn",
            "fc1_dropout",
            "predictions",
        ],
        VGG_CONVS + bn(32) * 2 + bn(64) * 2 + bn(128) * 2 + dense(4 * 4 * 128, 128) + bn(128) + dense(128, 10),
        (2 * 32 * 2 + 2 * 64 * 2 + 2 * 128 * 2) + 2 * 128,
    ),
    (
        # two blocks on MNIST without dropout: 28 → 14 → 7
        "vgg_blocks-mnist-2blocks-nodropout",
        "vgg_blocks",
        {"filters": (16, 32), "dense_units": 64, "dropout": 0.0},
        MNIST,
        [
            *STEM,
            *(name for i in (1, 2) for name in vgg_block_names(i, batch_norm=False, dropout=False)),
            "flatten",
            "fc1",
            "predictions",
        ],
        conv(3, 1, 16) + conv(3, 16, 16) + conv(3, 16, 32) + conv(3, 32, 32) + dense(7 * 7 * 32, 64) + dense(64, 10),
        0,
    ),
]


@pytest.mark.parametrize(
    "architecture, kwargs, input_shape, names, total, non_trainable",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_builder(architecture, kwargs, input_shape, names, total, non_trainable):
    model = build_model(architecture, input_shape=input_shape, **kwargs)
    num_classes = kwargs.get("num_classes", 10)

    assert model.name == architecture
    assert model.output_shape == (None, num_classes)
    assert [layer.name for layer in model.layers] == names
    assert count_params(model) == {
        "total": total,
        "trainable": total - non_trainable,
        "non_trainable": non_trainable,
    }
    assert count_params(model)["total"] == model.count_params()
    has_dropout = any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert has_dropout == (kwargs.get("dropout", 0.2 if architecture == "vgg_blocks" else 0.0) > 0)
    has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert has_bn == kwargs.get("batch_norm", False)
    assert model.get_layer("predictions").activation is keras.activations.softmax

    pixels = np.random.default_rng(0).integers(0, 256, size=(4, *input_shape), dtype=np.uint8)
    probabilities = keras.ops.convert_to_numpy(model(pixels, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def test_registry_lists_the_four_architectures():
    assert sorted(MODEL_BUILDERS) == ["mlp", "simple_cnn", "transfer", "vgg_blocks"]


def test_unknown_architecture_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"resnet.*known architectures.*'mlp', 'simple_cnn'"):
        build_model("resnet")


@pytest.mark.parametrize(
    "architecture, kwargs, match",
    [
        ("simple_cnn", {"dropout": 1.0}, "dropout"),
        ("vgg_blocks", {"filters": ()}, "filters"),
        ("vgg_blocks", {"filters": (8, 8, 8, 8, 8, 8)}, "6 blocks"),
        ("transfer", {"base": "alexnet", "weights": None}, "known bases: \\['resnet50', 'vgg19'\\]"),
        ("transfer", {"input_shape": MNIST, "weights": None}, "RGB images of at least 32"),
        ("transfer", {"pooling": "max", "weights": None}, "pooling"),
    ],
)
def test_bad_arguments_raise_config_error(architecture, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model(architecture, **kwargs)


def test_augmentation_is_the_first_layer_and_only_active_in_training():
    model = build_simple_cnn(CIFAR, augmentation="flip_shift")
    assert [layer.name for layer in model.layers[:3]] == ["image", "augmentation", "rescale"]
    stem = keras.Model(model.input, model.get_layer("rescale").output)
    pixels = np.random.default_rng(1).integers(0, 256, size=(8, *CIFAR)).astype("float32")

    inference = keras.ops.convert_to_numpy(stem(pixels, training=False))
    np.testing.assert_allclose(inference, pixels / 255.0, rtol=1e-6)
    training = keras.ops.convert_to_numpy(stem(pixels, training=True))
    assert training.shape == pixels.shape
    assert not np.allclose(training, pixels / 255.0)


# --- transfer models --------------------------------------------------------------------------------------

VGG19_NOTOP = 20_024_384
RESNET50_NOTOP = 23_587_712
RESNET50_BN_MOVING = 53_120  # its 26,560 batch-norm channels × (moving mean, moving variance)
BASE_FEATURES = {"vgg19": 512, "resnet50": 2048}  # channels of the 1×1 map a 32×32 image ends as


@pytest.mark.parametrize(
    "base, batch_norm, freeze_base",
    [("vgg19", False, True), ("vgg19", True, False), ("resnet50", True, True), ("resnet50", False, False)],
)
def test_transfer_head_and_freezing(base, batch_norm, freeze_base):
    model = build_transfer_model(base, CIFAR, weights=None, batch_norm=batch_norm, freeze_base=freeze_base)
    base_total = {"vgg19": VGG19_NOTOP, "resnet50": RESNET50_NOTOP}[base]
    base_moving = {"vgg19": 0, "resnet50": RESNET50_BN_MOVING}[base]
    head_trainable = dense(BASE_FEATURES[base], 256) + 2 * 256 * batch_norm + dense(256, 10)
    head_moving = 2 * 256 * batch_norm

    assert model.name == f"{base}_transfer"
    assert model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers] == (
        ["image", base, "flatten", "fc1"] + ["fc1_bn"] * batch_norm + ["fc1_dropout", "predictions"]
    )
    # keras.applications.<base>.preprocess_input, called on the input tensor, is recorded as Keras operations
    operations = [layer["class_name"] for layer in model.get_config()["layers"]]
    assert operations[:6] == ["InputLayer", "GetItem", "GetItem", "GetItem", "Stack", "Add"]
    assert model.get_layer(base).count_params() == base_total
    params = count_params(model)
    assert params["total"] == base_total + head_trainable + head_moving
    if freeze_base:
        assert params["trainable"] == head_trainable
    else:
        assert params["trainable"] == base_total - base_moving + head_trainable
    assert model.get_layer(base).trainable is not freeze_base

    pixels = np.random.default_rng(0).integers(0, 256, size=(2, *CIFAR), dtype=np.uint8)
    probabilities = keras.ops.convert_to_numpy(model(pixels, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_caffe_preprocessing_equals_keras_preprocess_input():
    pixels = np.random.default_rng(2).uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    expected = keras.applications.vgg19.preprocess_input(pixels.copy())
    layer = CaffePreprocessing(name="caffe_preprocess")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(pixels)), expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(expected, keras.applications.resnet50.preprocess_input(pixels.copy()), rtol=1e-6)

    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, CaffePreprocessing)
    assert restored.name == "caffe_preprocess" and restored.mean == layer.mean


# --- ImageNet weights, offline ----------------------------------------------------------------------------

VGG19_FILE = IMAGENET_BASES["vgg19"].file_name


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty KERAS_HOME that does not exist yet, on a machine whose DNS fails (offline, deterministic)."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    return home


@pytest.fixture(scope="module")
def saved_vgg19(tmp_path_factory):
    """A randomly initialised VGG19 no-top saved both as a legacy .h5 (the official files' format) and .weights.h5."""
    folder = tmp_path_factory.mktemp("vgg19")
    base = keras.applications.VGG19(include_top=False, weights=None, input_shape=CIFAR)
    with warnings.catch_warnings():
        # keras's HDF5 writers call np.array(variable) the way NumPy 2 deprecates; not our code.
        warnings.simplefilter("ignore", DeprecationWarning)
        base.save(folder / "vgg19_notop.h5")
        base.save_weights(folder / "vgg19_notop.weights.h5")
    return folder, base.get_layer("block1_conv1").get_weights()[0]


def first_kernel(model: keras.Model) -> np.ndarray:
    return model.get_layer("vgg19").get_layer("block1_conv1").get_weights()[0]


def test_imagenet_offline_says_where_to_copy_the_file_and_leaves_nothing(keras_home):
    target = keras_home / "models" / VGG19_FILE
    with pytest.raises(WeightsError, match=re.escape(str(target))) as error:
        build_transfer_model("vgg19", CIFAR, weights="imagenet")
    message = str(error.value)
    assert IMAGENET_BASES["vgg19"].origin in message
    assert "weights=None" in message and "weights='<path" in message
    assert list((keras_home / "models").iterdir()) == []


def test_failed_download_removes_a_partial_file(keras_home, monkeypatch):
    def half_download(fname, origin, cache_dir, cache_subdir, **kwargs):
        partial = os.path.join(cache_dir, cache_subdir, fname)
        with open(partial, "wb") as f:
            f.write(b"\x89HDF half")
        raise Exception(f"URL fetch failure on {origin}: connection reset")

    monkeypatch.setattr(keras.utils, "get_file", half_download)
    with pytest.raises(WeightsError, match="connection reset"):
        build_transfer_model("resnet50", CIFAR, weights="imagenet")
    assert list((keras_home / "models").iterdir()) == []


def test_unusable_cache_folder_raises_weights_error(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("KERAS_HOME", str(not_a_folder))
    with pytest.raises(WeightsError, match="Cannot create the Keras cache folder"):
        build_transfer_model("vgg19", CIFAR, weights="imagenet")


def test_imagenet_uses_a_file_in_the_cache_without_downloading(keras_home, saved_vgg19):
    folder, kernel = saved_vgg19
    (keras_home / "models").mkdir(parents=True)
    # Not the official file, so its hash differs: keras's get_file would try to re-download it.
    os.link(folder / "vgg19_notop.h5", keras_home / "models" / VGG19_FILE)
    model = build_transfer_model("vgg19", CIFAR, weights="imagenet")
    np.testing.assert_array_equal(first_kernel(model), kernel)


def test_corrupt_cached_file_reports_its_hash(keras_home):
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / VGG19_FILE).write_bytes(b"truncated")
    with pytest.raises(WeightsError, match=r"md5 is [0-9a-f]{32}, the official file's is 253f8cb5"):
        build_transfer_model("vgg19", CIFAR, weights="imagenet")


def test_weights_path_loads_that_file(saved_vgg19):
    folder, kernel = saved_vgg19
    model = build_transfer_model("vgg19", CIFAR, weights=folder / "vgg19_notop.weights.h5")
    np.testing.assert_array_equal(first_kernel(model), kernel)


def test_missing_weights_path_raises_weights_error(tmp_path):
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(WeightsError, match=re.escape(f"{missing} does not exist")):
        build_transfer_model("vgg19", CIFAR, weights=str(missing))


@pytest.mark.filterwarnings("ignore:Skipping:UserWarning")  # keras lists each layer it cannot match first
def test_weights_of_another_model_raise_weights_error(tmp_path):
    other = tmp_path / "mlp.weights.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # keras's HDF5 writer, as above
        build_model("mlp").save_weights(other)
    with pytest.raises(WeightsError, match=re.escape(f"Cannot load {other} into a vgg19 base")):
        build_transfer_model("vgg19", CIFAR, weights=other)
