"""Keras layers the report's models use beyond `keras.layers`: batch normalisation computed by one fused kernel.

Keras 3 computes `BatchNormalization` on TensorFlow from separate ops (mean, variance, normalise, their
gradients: about a dozen passes over each activation), and TensorFlow runs them one by one on a CPU. TensorFlow's
fused batch norm (`FusedBatchNormV3`, which oneDNN executes on a CPU) does the same arithmetic in one op forward
and one backward. Measurements: benchmarks/README.md, "Batch norm in one kernel".
"""

from __future__ import annotations

import keras

__all__ = ["FusedBatchNormalization"]

_FUSED_MIN_EPSILON = 1.001e-5  # TensorFlow's fused kernels clamp a smaller epsilon up to this: then not fused


@keras.saving.register_keras_serializable(package="lab_utils")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`, with the same weights, arguments and results, in one fused op on TensorFlow.

    Fused when the backend is TensorFlow, the channels are the last axis of a 2-D or 4-D float32 input, and
    nothing asks for more than plain batch norm (no mask, renorm or synchronised statistics); otherwise, and on
    every other backend, it is exactly its parent. The moving variance is updated with the batch's *biased*
    variance, as Keras does (the fused kernel returns the unbiased one: undone here).
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        dense = len(inputs.shape) == 2  # (batch, features) → (batch, 1, 1, features): the fused op wants 4-D
        x = tf.reshape(inputs, [-1, 1, 1, inputs.shape[-1]]) if dense else inputs
        gamma = self.gamma if self.scale else tf.ones(inputs.shape[-1], inputs.dtype)
        beta = self.beta if self.center else tf.zeros(inputs.shape[-1], inputs.dtype)
        if training and self.trainable:
            y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
            )
            count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), inputs.dtype)
            variance = unbiased * tf.where(count > 1, (count - 1) / count, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                gamma,
                beta,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return tf.reshape(y, tf.shape(inputs)) if dense else y

    def _fusable(self, inputs, training, mask) -> bool:
        """Whether the fused kernel computes exactly what the parent's `call` would."""
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and rank in (2, 4)
            and self.axis in (-1, rank - 1)
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.compute_dtype == "float32"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and isinstance(training, (bool, type(None)))
            and self.epsilon >= _FUSED_MIN_EPSILON
        )
