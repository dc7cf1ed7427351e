"""Exercises in three tiers — predict, build, explore — each with a check the student runs in the notebook.

`check("01.2", answer, ...)` prints ✓ or ✗ with a hint, and "not answered yet" while `answer` is None; it never
stops the notebook, except under `LAB_STRICT_CHECKS=1` (set by the tests), where a wrong answer raises
`ExerciseError` so a solution that stopped being right fails the build. The catalogue `EXERCISES` holds, per
id, the tier, the question in one line and the check function; the check receives what it needs from the
notebook as keyword arguments (the data, the trained model), so every check is a plain function a test can call.

Cell convention — under a notebook's `## Exercises` heading, four cells per exercise, in this order:

1. Markdown: `### Exercise 01.2 · build` (id · tier), the question, and `**Expect under lesson:** ...` — the
   value or range the `lesson` profile gives (exact for predict/build answers that need no training).
2. Code, tagged `exercise`: the student's placeholder, `answer = None` (after any starter lines).
3. Code, tagged `solution`, metadata `{"jupyter": {"source_hidden": true}}` (collapsed in JupyterLab): sets
   `answer`. `scripts/student_version.py` removes these cells; the source notebook keeps them, so
   `run_all.sh` and the tests run every check against its solution.
4. Code, tagged `check`: `check("01.2", answer, model=...)` — imported once with
   `from lab_utils.exercises import check`.

Each cell runs in seconds under the `smoke` profile: an exercise that trains uses the run cache (`lab.fit`) or
a few hundred images.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab_utils.errors import LabError

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "check", "strict"]

TIERS = ("predict", "build", "explore")
STRICT_ENV = "LAB_STRICT_CHECKS"


class ExerciseError(LabError):
    """A checked exercise has a wrong answer (raised only under LAB_STRICT_CHECKS=1)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its tier, the question in a line, and a check returning None when right, else a hint."""

    tier: str
    question: str
    check: Callable[..., str | None]


def strict() -> bool:
    """Whether a wrong answer raises (LAB_STRICT_CHECKS=1, set by the tests) rather than only printing ✗."""
    return os.environ.get(STRICT_ENV, "0") not in ("", "0")


def check(exercise_id: str, answer: Any, **context: Any) -> bool | None:
    """Print whether `answer` solves the exercise (✓, or ✗ with a hint); None while unanswered.

    Raises:
        KeyError: unknown id (the message lists the known ones).
        ExerciseError: a wrong answer under LAB_STRICT_CHECKS=1.
    """
    if exercise_id not in EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(EXERCISES))}")
    exercise = EXERCISES[exercise_id]
    if answer is None:
        print(f"Exercise {exercise_id} ({exercise.tier}): not answered yet — set `answer` in the cell above.")
        return None
    hint = exercise.check(answer, **context)
    if hint is None:
        print(f"✓ Exercise {exercise_id} ({exercise.tier}): right.")
        return True
    print(f"✗ Exercise {exercise_id} ({exercise.tier}): not yet. {hint}")
    if strict():
        raise ExerciseError(f"exercise {exercise_id}: wrong answer {answer!r}: {hint}")
    return False


# ---- small checks the exercises share ----------------------------------------------------------------------

def _number(answer: Any) -> float | None:
    """The answer as a float, or None when it is not one number."""
    try:
        return float(np.asarray(answer, dtype=float).reshape(()))
    except (TypeError, ValueError):
        return None


def _within(answer: Any, expected: float, tolerance: float, hint: str) -> str | None:
    value = _number(answer)
    if value is None:
        return f"Give one number (got {type(answer).__name__}). {hint}"
    return None if abs(value - expected) <= tolerance else hint


def _model_differences(answer: Any, reference: Any) -> str | None:
    """None when `answer` is the reference network, else which layers differ."""
    import keras

    from lab_utils.training.fit import model_differences

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model, got {type(answer).__name__}."
    problems = model_differences(answer, reference)
    return None if not problems else "Differences from the expected network:\n  " + "\n  ".join(problems[:5])


# ---- 00 · data exploration ---------------------------------------------------------------------------------

def _check_majority_accuracy(answer: Any, *, test_labels: np.ndarray) -> str | None:
    counts = np.bincount(np.asarray(test_labels).ravel())
    expected = 100 * counts.max() / counts.sum()
    return _within(answer, expected, 0.5, "Count the test labels per class (np.bincount): the constant model is "
                                          "right exactly on the images of the class it always answers; give a "
                                          "percentage.")


def _check_channel_means(answer: Any, *, images: np.ndarray) -> str | None:
    from lab_utils.report.inspect import to_numpy

    got = to_numpy(answer).astype(float).ravel()
    expected = np.asarray(images, dtype=np.float64).reshape(-1, np.shape(images)[-1]).mean(axis=0)
    if got.shape != expected.shape:
        return f"Give one mean per colour channel ({len(expected)} numbers, e.g. `norm.mean`), got {got.size}."
    if not np.allclose(got, expected, rtol=1e-3, atol=0.05):
        return "Adapt the layer to the raw training images (0..255, all of them) with axis=-1 (one mean per channel)."
    return None


def split_gaps(labels: np.ndarray, seeds: range = range(20)) -> tuple[float, float]:
    """Largest gap, in percentage points, between a class's share in a 20 % validation split and in `labels`,
    over `seeds` — (stratified, random) — as exercise 00.3 defines it."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels).ravel()
    classes = np.arange(labels.max() + 1)
    share = np.bincount(labels, minlength=len(classes)) / len(labels)

    def gap(stratify: np.ndarray | None) -> float:
        gaps = []
        for seed in seeds:
            _, val = train_test_split(labels, test_size=0.2, random_state=seed, stratify=stratify)
            gaps.append(np.abs(np.bincount(val, minlength=len(classes)) / len(val) - share).max())
        return 100 * float(max(gaps))

    return gap(labels), gap(None)


def _check_split_gaps(answer: Any, *, labels: np.ndarray) -> str | None:
    try:
        stratified, unstratified = (float(v) for v in answer)
    except (TypeError, ValueError):
        return "Give a pair: (largest gap with stratify=labels, largest gap without), in percentage points."
    expected = split_gaps(labels)
    if not np.allclose((stratified, unstratified), expected, atol=0.05):
        return ("For each seed 0–19, split with train_test_split(labels, test_size=0.2, random_state=seed[, "
                "stratify=labels]); the gap is max over classes of |share in the split − share in labels|, "
                "times 100; keep the largest over seeds.")
    return None


# ---- 01 · MNIST CNN ----------------------------------------------------------------------------------------

def _check_fc1_params_32px(answer: Any) -> str | None:
    from lab_utils.models.builders import build_simple_cnn

    expected = build_simple_cnn(input_shape=(32, 32, 1)).get_layer("fc1").count_params()
    return _within(answer, expected, 0, "Follow the side through Eq. (3) and both poolings (32 → 30 → …), then "
                                        "fc1 has (side · side · 64) · 128 weights + 128 biases.")


def _check_mlp(answer: Any) -> str | None:
    from lab_utils.models.builders import build_mlp

    return _model_differences(answer, build_mlp())


def best_sobel_match(kernels: Any, sobel: Any) -> tuple[int, float]:
    """(index, |cosine similarity|) of the learned 3×3 kernel most like `sobel`, up to sign — exercise 01.3."""
    from lab_utils.report.inspect import to_numpy

    w = to_numpy(kernels).reshape(-1, to_numpy(kernels).shape[-1])  # (9, filters) for 3×3×1 kernels
    s = to_numpy(sobel).astype(float).ravel()
    cosine = np.abs(s @ w) / (np.linalg.norm(s) * np.linalg.norm(w, axis=0))
    return int(cosine.argmax()), float(cosine.max())


def _check_sobel_match(answer: Any, *, trained: Any, initial: Any, sobel: Any) -> str | None:
    try:
        got = tuple(float(v) for v in answer)
    except (TypeError, ValueError):
        got = ()
    (trained_index, trained_cos), (initial_index, initial_cos) = best_sobel_match(trained, sobel), best_sobel_match(
        initial, sobel)
    if len(got) != 2:
        return "Give a pair: (best |cosine| among the trained kernels, best |cosine| among the initial ones)."
    if not np.allclose(got, (trained_cos, initial_cos), atol=0.005):
        return ("Flatten the Sobel kernel and each kernel (`kernels[..., 0, i]`) to 9 numbers and take "
                "|cosine similarity| = |a·b| / (‖a‖‖b‖) — the sign does not matter, the next layer can flip it; "
                "keep the largest over the 32 kernels, once for the trained and once for the initial kernels.")
    print(f"  Trained: kernel {trained_index}, |cosine| {trained_cos:.2f}; "
          f"before training: kernel {initial_index}, |cosine| {initial_cos:.2f}.")
    return None


# ---- 02 · CIFAR-10 CNNs ------------------------------------------------------------------------------------

def _check_two_block_params(answer: Any) -> str | None:
    from lab_utils.models.builders import build_vgg_blocks

    expected = build_vgg_blocks(filters=(32, 64)).count_params()
    return _within(answer, expected, 0, "Add each layer's weights and biases: a 3×3 convolution from c_in to c_out "
                                        "channels has 9·c_in·c_out + c_out; two blocks halve 32 → 16 → 8, so fc1 "
                                        "sees 8·8·64 features.")


def _check_bn_before_relu(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.Model):
        return f"`answer` should be a keras.Model, got {type(answer).__name__}."
    kinds = ["BatchNormalization" if isinstance(layer, keras.layers.BatchNormalization) else type(layer).__name__
             for layer in answer.layers]  # FusedBatchNormalization counts as what it is: batch norm
    convs = [i for i, kind in enumerate(kinds) if kind == "Conv2D"]
    if len(convs) != 6:
        return f"Build three VGG blocks of two convolutions each: found {len(convs)} Conv2D layers."
    for i in convs:
        if answer.layers[i].get_config()["activation"] != "linear":
            return f"{answer.layers[i].name} applies its own activation: give it none, the ReLU comes after BN."
        if kinds[i + 1:i + 3] != ["BatchNormalization", "ReLU"] and kinds[i + 1:i + 3] != ["BatchNormalization",
                                                                                          "Activation"]:
            return f"After {answer.layers[i].name} put BatchNormalization, then the ReLU (layers.ReLU())."
    from lab_utils.models.builders import build_vgg_blocks

    expected = build_vgg_blocks(batch_norm=True).count_params()
    if answer.count_params() != expected:
        return f"{answer.count_params():,} parameters, expected {expected:,} (the same layers, in another order)."
    return None


def _check_dropout_minimum(answer: Any, *, run: Any) -> str | None:
    expected = run.record.best_epoch
    return _within(answer, expected, 0, "Read the epoch with the lowest validation loss from the run: "
                                        "`run.record.best_epoch` (1-based), or np.argmin of history['val_loss'] + 1.")


# ---- 03 · transfer learning --------------------------------------------------------------------------------

def _check_head_params(answer: Any) -> str | None:
    from lab_utils.models.builders import build_transfer_model

    model = build_transfer_model("resnet50", weights=None, freeze_base=True)
    expected = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return _within(answer, expected, 0, "ResNet50 ends at 1×1×2048 on 32×32 images: fc1 has 2048·256 + 256 "
                                        "weights, the softmax 256·10 + 10.")


def _check_global_average_pooling(answer: Any) -> str | None:
    from lab_utils.models.builders import build_transfer_model

    return _model_differences(answer, build_transfer_model("vgg19", weights=None, freeze_base=True, pooling="avg"))


def _check_epoch_cost_ratio(answer: Any, *, head: Any, tuned: Any) -> str | None:
    expected = tuned.record.seconds_per_epoch / head.record.seconds_per_epoch
    return _within(answer, expected, 0.05 * expected, "Divide the two runs' `record.seconds_per_epoch`: fine-tuning "
                                                      "over head only.")


# ---- 04 · data augmentation --------------------------------------------------------------------------------

def _check_uncovered_share(answer: Any) -> str | None:
    return _within(answer, 1 - 0.9 * 0.9, 0.005, "A shift by 10 % of the width and 10 % of the height keeps a "
                                                 "(1 − 0.1) × (1 − 0.1) part of the image; the rest is filled.")


def _check_zoom_augmentation(answer: Any) -> str | None:
    import keras

    if not isinstance(answer, keras.layers.Layer):
        return f"`answer` should be a Keras layer (a keras.Sequential), got {type(answer).__name__}."
    kinds = [type(layer).__name__ for layer in getattr(answer, "layers", [answer])]
    if kinds != ["RandomFlip", "RandomTranslation", "RandomZoom"]:
        return f"Expected RandomFlip, RandomTranslation, RandomZoom in that order; got {', '.join(kinds)}."
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    if not np.array_equal(keras.ops.convert_to_numpy(answer(batch, training=False)), batch):
        return "Called with training=False the set must return the images unchanged."
    return None


def _check_biggest_gain(answer: Any, *, without: Any, with_: Any, class_names: Any) -> str | None:
    gains = [((with_.y_pred == c) & (with_.y_true == c)).sum() / max((with_.y_true == c).sum(), 1)
             - ((without.y_pred == c) & (without.y_true == c)).sum() / max((without.y_true == c).sum(), 1)
             for c in range(len(class_names))]
    expected = class_names[int(np.argmax(gains))]
    return None if answer == expected else ("Compare per-class accuracy (the confusion matrix's diagonal over its "
                                            "row sums) with and without augmentation; give the class name.")


EXERCISES: dict[str, Exercise] = {
    "00.1": Exercise("predict", "test accuracy (%) of a model that always answers the most frequent digit",
                     _check_majority_accuracy),
    "00.2": Exercise("build", "per-channel mean of the CIFAR-10 training images from keras.layers.Normalization",
                     _check_channel_means),
    "00.3": Exercise("explore", "largest class-share gap of a 20 % split, stratified vs random, seeds 0–19",
                     _check_split_gaps),
    "01.1": Exercise("predict", "parameters of fc1 if the CNN were fed 32×32 grey images", _check_fc1_params_32px),
    "01.2": Exercise("build", "the one-hidden-layer baseline in Keras, equal to build_mlp()", _check_mlp),
    "01.3": Exercise("explore", "how Sobel-like conv1's kernels are, trained vs at initialisation",
                     _check_sobel_match),
    "02.1": Exercise("predict", "parameters of the VGG model with two blocks, filters=(32, 64)", _check_two_block_params),
    "02.2": Exercise("build", "VGG blocks with batch norm between each convolution and its ReLU", _check_bn_before_relu),
    "02.3": Exercise("explore", "epoch of the lowest validation loss of the simple CNN with dropout 0.25",
                     _check_dropout_minimum),
    "03.1": Exercise("predict", "weights training updates when the ResNet50 base is frozen", _check_head_params),
    "03.2": Exercise("build", "the VGG19 transfer model with global average pooling instead of flatten",
                     _check_global_average_pooling),
    "03.3": Exercise("explore", "how many head-only epochs one epoch of fine-tuning costs", _check_epoch_cost_ratio),
    "04.1": Exercise("predict", "largest share of an image that a 10 % shift both ways makes up", _check_uncovered_share),
    "04.2": Exercise("build", "the final augmentation set plus RandomZoom(0.1)", _check_zoom_augmentation),
    "04.3": Exercise("explore", "the class that gained most test accuracy from flip + shift (VGG blocks + BN)",
                     _check_biggest_gain),
}
assert all(e.tier in TIERS for e in EXERCISES.values())
