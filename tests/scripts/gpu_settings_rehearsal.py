"""The GPU settings, rehearsed on whatever device this is: bf16 mixed precision, XLA and 8 steps per execution.

Trains the MNIST CNN twice on the same data (float32, then bf16), each with XLA and 8 steps per execution, saves
it to a run cache, reloads it from there, and prints one JSON object: per precision the losses, the test
accuracy, whether the reload came from the cache, and how far the reloaded model's predictions are from the
trained one's. Run it with KERAS_BACKEND=jax (tests/test_gpu_settings.py does).

    KERAS_BACKEND=jax python tests/scripts/gpu_settings_rehearsal.py DATA_DIR [EPOCHS]
"""

import json
import sys
import tempfile

import numpy as np

from lab_utils import Lab, predict, train
from lab_utils.training import runtime


def main(data_dir: str, epochs: int) -> dict:
    results = {"backend": runtime.backend_name()}
    with tempfile.TemporaryDirectory() as runs:
        lab = Lab("lesson", data_dir=data_dir, runs_dir=runs, epochs=epochs, verbose=0)
        data = lab.dataset("mnist")
        for name, bf16 in (("float32", False), ("bfloat16", True)):
            config = lab.config("mnist_cnn").replace(
                experiment=f"mnist_cnn_{name}",
                mixed_precision=bf16,
                jit_compile=True,
                steps_per_execution=8,
                patience=epochs,
            )
            trained = train(config, data, runs_root=runs, verbose=0)
            reloaded = train(config, data, runs_root=runs, verbose=0)
            first = predict(trained.model, data.x_test, data.y_test).probs
            second = predict(reloaded.model, data.x_test, data.y_test).probs
            record = trained.record
            conv = next(layer for layer in trained.model.layers if layer.__class__.__name__ == "Conv2D")
            results[name] = {
                "losses": record.history["loss"] + record.history["val_loss"],
                "test_accuracy": record.test_accuracy,
                "reloaded_from_cache": reloaded.cached,
                "reload_max_difference": float(np.max(np.abs(first - second))),
                "conv_compute_dtype": conv.dtype_policy.compute_dtype,
                "conv_kernel_dtype": str(conv.kernel.dtype),
                "output_dtype": str(trained.model.outputs[0].dtype),
                "record": {k: getattr(record, k) for k in ("mixed_precision", "jit_compile", "steps_per_execution")},
                "seconds": sum(record.epoch_seconds),
            }
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)))
