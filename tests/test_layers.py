"""FusedBatchNormalization: Keras's batch norm, the same numbers, one fused op on TensorFlow."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from lab_utils.models.layers import FusedBatchNormalization

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused op is TensorFlow's")


def _pair(shape: tuple[int, ...], **kwargs) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    """A Keras BatchNormalization and a FusedBatchNormalization with the same, non-trivial weights."""
    rng = np.random.default_rng(1)
    plain, fused = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    for layer in (plain, fused):
        layer.build(shape)
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        if getattr(plain, name, None) is not None:
            value = rng.uniform(0.5, 1.5, shape[-1]).astype("float32")
            getattr(plain, name).assign(value)
            getattr(fused, name).assign(value)
    return plain, fused


CASES = {  # name: (input shape, layer arguments, how the layer is called)
    "conv": ((16, 6, 5, 8), {}, {}),
    "dense": ((64, 12), {}, {}),
    "tiny": ((2, 1, 1, 3), {}, {}),
    "frozen": ((16, 6, 5, 8), {"trainable": False}, {}),  # inference mode even in training, statistics kept
    "no-center-no-scale": ((16, 6, 5, 8), {"center": False, "scale": False}, {}),
    "resnet-epsilon": ((16, 6, 5, 8), {"epsilon": 1.001e-5}, {}),  # keras.applications' ResNet50 value
    "unknown-batch": ((64, 12), {}, {"unknown_batch": True}),
    "xla": ((16, 6, 5, 8), {}, {"jit_compile": True}),
}


@pytest.mark.parametrize("shape, kwargs, how", CASES.values(), ids=CASES.keys())
def test_same_outputs_gradients_and_moving_statistics_as_keras(shape, kwargs, how) -> None:
    plain, fused = _pair(shape, momentum=0.9, **kwargs)
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
    signature = [tf.TensorSpec([None, *shape[1:]], tf.float32)] if how.get("unknown_batch") else None

    def run(layer):  # one function per layer: each traces its own step, bound to its own layer
        @tf.function(input_signature=signature, jit_compile=how.get("jit_compile", False), reduce_retracing=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * tf.sin(x))  # a loss whose gradient reaches every input differently
            return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]

        outputs = step(x)
        return [*outputs, layer.moving_mean, layer.moving_variance, layer(x, training=False)]

    results = [run(layer) for layer in (plain, fused)]
    assert len(results[0]) == len(results[1])
    for i, (a, b) in enumerate(zip(*results, strict=True)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-4, err_msg=f"output {i}")
    if kwargs.get("trainable") is False:
        np.testing.assert_array_equal(np.asarray(fused.moving_variance), np.asarray(plain.moving_variance))


def _op_types(layer: keras.layers.Layer, x: np.ndarray, training: bool = True, **kwargs) -> set[str]:
    fn = tf.function(lambda t: layer(t, training=training, **kwargs))
    return {op.type for op in fn.get_concrete_function(tf.constant(x)).graph.get_operations()}


def test_the_fused_op_runs_in_training_and_inference() -> None:
    layer = FusedBatchNormalization()
    x = np.ones((4, 3, 3, 2), "float32")
    assert "FusedBatchNormV3" in _op_types(layer, x)
    assert "FusedBatchNormV3" in _op_types(layer, x, training=False)


def test_mixed_precision_falls_back_to_keras() -> None:
    layer = FusedBatchNormalization(dtype="mixed_float16")  # float16 compute: Keras upcasts, the fused path stays out
    assert "FusedBatchNormV3" not in _op_types(layer, np.ones((4, 3, 3, 2), "float16"))


@pytest.mark.parametrize(
    "kwargs, shape, call",
    [
        ({"renorm": True}, (4, 3, 3, 2), {}),
        ({"axis": 1}, (4, 3, 3, 2), {}),
        ({"epsilon": 1e-6}, (4, 3, 3, 2), {}),
        ({}, (4, 3, 2), {}),  # 3-D: not a shape the fused op takes
        ({}, (4, 3), {"mask": tf.constant([True, True, False, True])}),
    ],
    ids=["renorm", "channels-first", "tiny-epsilon", "3-D", "mask"],
)
def test_what_the_fused_op_cannot_do_falls_back_to_keras(kwargs, shape, call) -> None:
    layer = FusedBatchNormalization(**kwargs)
    assert "FusedBatchNormV3" not in _op_types(layer, np.ones(shape, "float32"), **call)


def test_other_backends_get_the_parent_layer(monkeypatch) -> None:
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert "FusedBatchNormV3" not in _op_types(FusedBatchNormalization(), np.ones((4, 3, 3, 2), "float32"))


def test_saved_model_loads_with_the_layer_and_its_statistics(tmp_path) -> None:
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(inputs))
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 2)).astype("float32")
    model(x, training=True)  # moves the moving statistics away from their initial values
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is FusedBatchNormalization
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
