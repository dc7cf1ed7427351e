"""Speed must not change what is learned: the fast augmented pipeline against the seed's, on real mini CIFAR-10.

    python -m benchmarks.equivalence [--epochs 10] [--seeds 0 1 2] [--data-dir ../shared/data/mini] [--json PATH]

For each seed, VGG blocks + BN + dropout with the seed's final augmentation (horizontal flip, shifts 0.1) is
trained twice: by the project (`lab_utils.train`: in-model augmentation layers, uint8 tf.data, integer labels)
and the seed's way (`ImageDataGenerator` from `keras.src.legacy`, float32 host arrays, one-hot labels,
categorical cross-entropy, default compile). It reports the best validation accuracy of each run, the mean
and spread (max − min) over seeds per pipeline, and whether the means differ by less than the spread.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mini"
EXPERIMENT, AUGMENTATION = "cifar_vgg_bn", "flip_shift"


def project_run(data, seed: int, epochs: int, runs_root: Path) -> dict[str, Any]:
    """The project's pipeline, exactly as the notebooks train it."""
    from lab_utils.training.experiments import get_experiment
    from lab_utils.training.session import train

    config = get_experiment(EXPERIMENT, AUGMENTATION).config.replace(epochs=epochs, patience=epochs, seed=seed)
    run = train(config, data, runs_root=runs_root, verbose=0)  # a temporary run cache, a new key per seed: trains
    history = run.record.history
    return {"val_accuracy": history["val_accuracy"], "epoch_seconds": run.record.epoch_seconds}


def seed_style_run(data, seed: int, epochs: int) -> dict[str, Any]:
    """The seed's pipeline: Keras's BatchNormalization, ImageDataGenerator on float32 host arrays, one-hot labels,
    default compile."""
    import keras
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    from benchmarks.pipelines import SEED_AUGMENTATION, seed_model
    from lab_utils.training.build import make_optimizer
    from lab_utils.training.experiments import get_experiment
    from lab_utils.training.fit import EpochTimer

    config = get_experiment(EXPERIMENT).config.replace(seed=seed)
    keras.utils.set_random_seed(seed)
    model = seed_model(config, data.input_shape, data.num_classes)
    model.compile(optimizer=make_optimizer(config), loss="categorical_crossentropy", metrics=["accuracy"])
    one_hot = lambda y: keras.utils.to_categorical(y, data.num_classes)  # noqa: E731
    flow = ImageDataGenerator(**SEED_AUGMENTATION[AUGMENTATION]).flow(
        data.x_train.astype("float32"), one_hot(data.y_train), batch_size=config.batch_size, seed=seed
    )
    timer = EpochTimer()
    fit = model.fit(
        flow,
        epochs=epochs,
        steps_per_epoch=math.ceil(len(data.y_train) / config.batch_size),
        validation_data=(data.x_val.astype("float32"), one_hot(data.y_val)),
        callbacks=[timer],
        verbose=0,
    )
    return {
        "val_accuracy": [float(v) for v in fit.history["val_accuracy"]],
        "epoch_seconds": [round(s, 4) for s in timer.seconds],
    }


def summarize(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    best = [max(r["val_accuracy"]) for r in runs.values()]
    seconds = [s for r in runs.values() for s in r["epoch_seconds"][1:]]  # the first epoch also traces
    return {
        "best_val_accuracy": {str(seed): round(b, 4) for seed, b in zip(runs, best, strict=True)},
        "mean": round(statistics.fmean(best), 4),
        "std": round(statistics.stdev(best), 4) if len(best) > 1 else 0.0,
        "spread": round(max(best) - min(best), 4),
        "median_epoch_seconds": round(statistics.median(seconds), 2) if seconds else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from lab_utils import load_dataset

    data = load_dataset("cifar10", args.data_dir)
    print(data, file=sys.stderr)
    started = time.time()
    runs: dict[str, dict[int, dict[str, Any]]] = {"project": {}, "seed": {}}
    with tempfile.TemporaryDirectory(prefix="equivalence_") as runs_root:
        for seed in args.seeds:  # interleaved, so a change in machine load hits both pipelines alike
            runs["project"][seed] = project_run(data, seed, args.epochs, Path(runs_root))
            runs["seed"][seed] = seed_style_run(data, seed, args.epochs)
            print(
                f"seed {seed}: best val accuracy project {max(runs['project'][seed]['val_accuracy']):.4f}, "
                f"seed-style {max(runs['seed'][seed]['val_accuracy']):.4f}",
                file=sys.stderr,
                flush=True,
            )
    summary = {name: summarize(r) for name, r in runs.items()}
    difference = summary["project"]["mean"] - summary["seed"]["mean"]
    tolerance = max(summary["project"]["spread"], summary["seed"]["spread"])
    result = {
        "data": repr(data),
        "experiment": EXPERIMENT,
        "augmentation": AUGMENTATION,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "summary": summary,
        "difference_of_means": round(difference, 4),
        "largest_spread": round(tolerance, 4),
        "same_within_spread": abs(difference) <= tolerance,
        "runs": {name: {str(k): v for k, v in r.items()} for name, r in runs.items()},
        "seconds": round(time.time() - started, 1),
    }
    for name, s in summary.items():
        print(
            f"{name:8s} best val accuracy {s['best_val_accuracy']}  mean {s['mean']:.4f} ± {s['std']:.4f} "
            f"(spread {s['spread']:.4f}), {s['median_epoch_seconds']} s/epoch"
        )
    print(
        f"difference of means {difference:+.4f}, largest spread {tolerance:.4f}: "
        f"{'same within the spread of seeds' if result['same_within_spread'] else 'DIFFERENT'}"
    )
    if args.json:
        from lab_utils.atomic import atomic_write_text  # lazily: the parent process stays free of TensorFlow

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
