"""Train the MNIST CNN single-device and data-parallel over 2 virtual CPU devices; print both as JSON.

Run in a fresh process: the virtual devices must be configured before the backend starts.
Usage: python data_parallel_check.py <mini data dir> <runs dir>   (KERAS_BACKEND picks the engine)
"""

import json
import sys

import keras

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from lab_utils import RunConfig, build_model, load_dataset, train
from lab_utils.training import distribute, pipeline

data_dir, runs = sys.argv[1], sys.argv[2]
data = load_dataset("mnist", data_dir, train_limit=2000, test_limit=500)
config = RunConfig(experiment="dp", dataset="mnist", architecture="simple_cnn", epochs=1, patience=1)
results = {"devices": distribute.devices()}
for name, parallel in (("single", False), ("parallel", True)):
    run = train(config, data, runs_root=f"{runs}/{name}", verbose=0, data_parallel=parallel)
    results[name] = {
        "loss": run.record.history["loss"][-1],
        "val_loss": run.record.history["val_loss"][-1],
        "test_accuracy": run.record.test_accuracy,
        "replicas": run.record.replicas,
    }


# One SGD step on the same batch and initial weights: the update must be the same, replicas or not.
def one_step(parallel: bool) -> list:
    keras.utils.set_random_seed(0)
    with distribute.data_parallel(parallel):
        model = build_model("simple_cnn")
        before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        model.fit(
            **pipeline.fit_arguments(data.x_train[:64], data.y_train[:64], batch_size=64, seed=0, shuffle=False),
            epochs=1,
            verbose=0,
        )
        return [keras.ops.convert_to_numpy(v) - b for v, b in zip(model.trainable_variables, before, strict=True)]


single_update, parallel_update = one_step(False), one_step(True)
results["one_step_max_abs_diff"] = max(
    float(abs(a - b).max()) for a, b in zip(single_update, parallel_update, strict=True)
)
results["one_step_max_abs_update"] = max(float(abs(a).max()) for a in single_update)

# How one global batch of 64 is split across the replicas.
with distribute.data_parallel(True) as replicas:
    if keras.backend.backend() == "tensorflow":
        strategy = tf.distribute.get_strategy()
        batches = pipeline.training_input(data.x_train, data.y_train, batch_size=64, seed=0)
        first = next(iter(strategy.experimental_distribute_dataset(batches)))
        results["per_replica_batch"] = [int(t.shape[0]) for t in strategy.experimental_local_results(first[0])]
    else:
        distribution = keras.distribution.distribution()
        layout = distribution.get_data_layout((64, 28, 28, 1))
        sharded = keras.distribution.distribute_tensor(keras.ops.convert_to_tensor(data.x_train[:64]), layout)
        results["per_replica_batch"] = [int(s.data.shape[0]) for s in sharded.addressable_shards]
print("RESULT " + json.dumps(results))
