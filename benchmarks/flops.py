"""How much arithmetic a training step costs, and how much this machine can do: the physical limit of a run.

FLOPs count only the multiply-adds of convolutions and dense layers (2 FLOPs per MAC), the convention of
papers and of the issue's "233 MFLOP per training image" for the VGG-block model. Batch norm, pooling, ReLU
and the optimizer update are memory-bound and left out, so a real step always costs a little more than this.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # keras (and TensorFlow) load only where a model is counted, not in the coordinator
    import keras

# Forward = 1 pass; a trainable layer also needs the gradient of its input and of its weights, each about
# the cost of the forward pass. A frozen layer (e.g. the VGG19 base) runs forward only.
TRAINABLE_PASSES = 3
FROZEN_PASSES = 1


def _leaf_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every non-container layer inside `layer`, in the model's (topological) order."""
    import keras

    if not isinstance(layer, keras.Model):  # Sequential and functional models are Models too
        yield layer
        return
    for child in layer.layers:
        yield from _leaf_layers(child)


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates of one forward pass of a Conv or Dense layer for one image (0 for other layers).

    Both are "kernel × every output position": a conv kernel (kh, kw, in/groups, out) slides over the output's
    spatial positions; a dense kernel (in, out) is applied once per position of any leading axes.
    """
    import keras

    if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        return 0
    kernel = math.prod(layer.kernel.shape)
    out_shape = tuple(layer.output.shape)[1:]  # without the batch axis
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(out_shape[:-1])
    else:
        channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
        spatial = out_shape[:-1] if channels_last else out_shape[1:]
        positions = math.prod(spatial)
    return int(kernel * positions)


def flops_per_image(model: keras.Model) -> dict[str, int]:
    """FLOPs of one image through `model`: `forward` (inference) and `training` (forward + backward).

    Returns:
        {"forward": ..., "training": ...}: 2 × MACs of every conv/dense layer, counted 3 times for training
        when the layer is trainable and once when it is frozen.
    """
    forward = training = 0
    for layer in _leaf_layers(model):
        flops = 2 * layer_macs(layer)
        forward += flops
        training += flops * (TRAINABLE_PASSES if layer.trainable and layer.trainable_weights else FROZEN_PASSES)
    return {"forward": forward, "training": training}


def _best_rate(run, flop: float, repeats: int) -> float:
    run()  # warm-up: thread pools, page faults, kernel selection
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9


def numpy_matmul_gflops(n: int = 4096, repeats: int = 5) -> float:
    """Best float32 n×n matrix-multiply rate of NumPy's BLAS, in GFLOPS."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    return _best_rate(lambda: a @ b, 2.0 * n**3, repeats)


def tensorflow_matmul_gflops(n: int = 4096, repeats: int = 5) -> float:
    """Best float32 n×n matrix-multiply rate of TensorFlow (oneDNN on x86 CPUs), in GFLOPS."""
    import tensorflow as tf

    a, b = (tf.random.uniform((n, n), seed=i) for i in range(2))
    return _best_rate(lambda: (a @ b).numpy(), 2.0 * n**3, repeats)
