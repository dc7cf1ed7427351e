"""Exercises: every check passes on its notebook's solution and fails on a wrong answer, the cells follow the
convention of lab_utils.exercises, and the student version has no solutions.

The solutions are run in-process: each solution cell's source, then its check cell's, in a namespace holding what
the notebook had defined by then (data under the smoke profile, an untrained CNN's kernels), under
LAB_STRICT_CHECKS=1 so a wrong answer raises. Papermill runs of whole notebooks are marked e2e.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import nbformat
import numpy as np
import pytest
from keras import layers

from lab_utils import Lab
from lab_utils.exercises import EXERCISES, TIERS, ExerciseError, check, split_gaps
from lab_utils.models.builders import build_simple_cnn, build_vgg_blocks
from lab_utils.report import plotting

from .helpers import ROOT, run_smoke_notebook

NOTEBOOKS = ROOT / "notebooks"
WITH_EXERCISES = (
    "00_data_exploration",
    "01_mnist_cnn",
    "02_cifar10_cnn",
    "03_transfer_learning",
    "04_data_augmentation",
)
# Explore exercises that read the notebook's trained runs: their solutions are checked in the smoke run (e2e), where
# every notebook executes its solutions under LAB_STRICT_CHECKS=1 (tests/test_teaching.py).
NEED_TRAINED_RUNS = {"02.3"}
# 03's and 04's exercises have their own tests (tests/test_exercises_transfer_augmentation.py).
HERE = sorted(i for i in EXERCISES if i[:2] in ("00", "01", "02"))
SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype="float32")
HEADING = re.compile(r"^### Exercise (\d\d\.\d) · (\w+)\n", re.M)


def _tagged(cell: nbformat.NotebookNode, tag: str) -> bool:
    return tag in cell.metadata.get("tags", [])


def _exercise_groups(name: str) -> dict[str, list[nbformat.NotebookNode]]:
    """Exercise id → its four cells (markdown, exercise, solution, check), as the notebook holds them."""
    cells = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
    groups = {}
    for i, cell in enumerate(cells):
        match = HEADING.match(cell.source) if cell.cell_type == "markdown" else None
        if match:
            groups[match[1]] = cells[i : i + 4]
    return groups


@pytest.fixture(scope="module")
def context(mini: Path, tmp_path_factory) -> dict:
    """What the notebooks define before their exercises, under the smoke profile (no training)."""
    lab = Lab("smoke", data_dir=mini, runs_dir=tmp_path_factory.mktemp("runs"), verbose=0)
    keras.utils.set_random_seed(1)
    cifar = lab.dataset("cifar10")
    return {
        "np": np,
        "keras": keras,
        "layers": layers,
        "build_simple_cnn": build_simple_cnn,
        "seed": 0,
        "check": check,
        "mnist": lab.dataset("mnist"),
        "cifar": cifar,
        "sobel": SOBEL,
        "kernels": build_simple_cnn().get_layer("conv1").kernel,
        "model": build_simple_cnn(),
        "plotting": plotting,
        "batch": cifar.x_train[:6].astype("float32"),
    }


@pytest.fixture
def strict(monkeypatch) -> None:
    monkeypatch.setenv("LAB_STRICT_CHECKS", "1")


def test_every_exercise_follows_the_cell_convention() -> None:
    found = {}
    for name in WITH_EXERCISES:
        groups = _exercise_groups(name)
        assert [EXERCISES[i].tier for i in groups] == list(TIERS), name  # predict, build, explore, in order
        for exercise_id, (text, exercise, solution, check_cell) in groups.items():
            assert exercise_id.startswith(name[:2]) and f"· {EXERCISES[exercise_id].tier}\n" in text.source
            assert "**Expect under `lesson`:**" in text.source
            assert _tagged(exercise, "exercise") and re.search(r"^answer = None\b", exercise.source, re.M)
            assert _tagged(solution, "solution") and solution.metadata["jupyter"] == {"source_hidden": True}
            assert re.search(r"^answer = ", solution.source, re.M)
            assert _tagged(check_cell, "check") and check_cell.source.startswith(f'check("{exercise_id}", answer')
            found[exercise_id] = name
    assert sorted(found) == sorted(EXERCISES)  # every catalogued exercise is in a notebook, once


@pytest.mark.parametrize("exercise_id", sorted(set(HERE) - NEED_TRAINED_RUNS))
def test_the_notebook_solution_passes_its_check(exercise_id: str, context: dict, strict, capsys) -> None:
    groups = {i: cells for name in WITH_EXERCISES for i, cells in _exercise_groups(name).items()}
    _, exercise, solution, check_cell = groups[exercise_id]
    namespace = dict(context)
    exec(exercise.source, namespace)  # the starter code, as the student gets it
    exec(solution.source, namespace)
    exec(check_cell.source, namespace)
    assert f"✓ Exercise {exercise_id}" in capsys.readouterr().out


def _wrong_answers(context: dict) -> dict[str, tuple]:
    """A plausible wrong answer per exercise, with the context its check needs."""
    mnist, cifar = context["mnist"], context["cifar"]
    gaps = split_gaps(mnist.y_train[:500])
    kernels = {"trained": context["kernels"], "initial": context["kernels"], "sobel": SOBEL}
    return {
        "00.1": (10.0, {"test_labels": mnist.y_test}),  # a uniform guess, not the majority class
        "00.2": ([0.5, 0.5, 0.5], {"images": cifar.x_train}),  # means of pixels rescaled to 0..1
        "00.3": (gaps[::-1], {"labels": mnist.y_train[:500]}),  # the two gaps swapped
        "01.1": (131_200, {}),  # fc1 of the 28×28 network
        "01.2": (build_simple_cnn(), {}),  # still max-pooling
        "01.3": ((1.0, 0.5), kernels),
        "02.1": (591_274 - 1_290, {}),  # the softmax layer forgotten
        "02.2": (build_vgg_blocks(batch_norm=True), {}),  # batch norm after the ReLU, as the report has it
        "02.3": (3, {"run": _dropout_run(0.5, best_epoch=3)}),  # the right epoch of the wrong run (dropout 0.5)
    }


def _dropout_run(rate: float, *, best_epoch: int, epochs: int = 10) -> SimpleNamespace:
    """A run of the simple CNN with dropout `rate`, as exercise 02.3's check reads it."""
    from lab_utils.models.builders import build_simple_cnn

    return SimpleNamespace(
        model=build_simple_cnn(input_shape=(32, 32, 3), dropout=rate),
        record=SimpleNamespace(best_epoch=best_epoch, config={"epochs": epochs}),
    )


@pytest.mark.parametrize("exercise_id", HERE)
def test_a_wrong_answer_fails_with_a_hint(exercise_id: str, context: dict, monkeypatch, capsys) -> None:
    answer, needs = _wrong_answers(context)[exercise_id]
    monkeypatch.setenv("LAB_STRICT_CHECKS", "0")
    assert check(exercise_id, answer, **needs) is False  # a student's notebook carries on
    assert f"✗ Exercise {exercise_id}" in capsys.readouterr().out
    monkeypatch.setenv("LAB_STRICT_CHECKS", "1")
    with pytest.raises(ExerciseError, match=f"exercise {exercise_id}: wrong answer"):
        check(exercise_id, answer, **needs)


def test_the_dropout_exercise_wants_its_own_run(strict, capsys) -> None:
    check("02.3", 3, run=_dropout_run(0.25, best_epoch=3))
    assert "✓ Exercise 02.3" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="at most 10 epochs"):
        check("02.3", 3, run=_dropout_run(0.25, best_epoch=3, epochs=50))


def test_the_checks_reject_near_misses(strict) -> None:
    """A linear activation after batch norm, or one dropout layer where the exercise asks for two, is wrong."""
    source = next(
        cells[2].source for cells in (_exercise_groups(n).get("02.2") for n in WITH_EXERCISES) if cells is not None
    )
    namespace = {"keras": keras, "layers": keras.layers}
    exec(source.replace("layers.ReLU()", 'layers.Activation("linear")'), namespace)
    with pytest.raises(ExerciseError, match="then the ReLU"):
        check("02.2", namespace["answer"])
    one_dropout = _dropout_run(0.25, best_epoch=3)
    one_dropout.model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.25), keras.layers.Dense(2)])
    with pytest.raises(ExerciseError, match="both dropout layers"):
        check("02.3", 3, run=one_dropout)


def test_an_unanswered_exercise_says_so_and_never_raises(strict, capsys) -> None:
    assert check("01.1", None) is None
    assert "not answered yet" in capsys.readouterr().out
    with pytest.raises(KeyError, match=r"known: 00\.1"):
        check("99.9", 1)


def test_answers_of_the_wrong_kind_get_a_hint(strict) -> None:
    with pytest.raises(ExerciseError, match="one number"):
        check("01.1", "many")
    with pytest.raises(ExerciseError, match=r"should be a keras\.Model"):
        check("01.2", [1, 2])
    with pytest.raises(ExerciseError, match="Give a pair"):
        check("01.3", 0.8, trained=np.ones((3, 3, 1, 4)), initial=np.ones((3, 3, 1, 4)), sobel=SOBEL)


def _student_version(tmp_path: Path) -> list[Path]:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "student_version.py"),
            *[str(NOTEBOOKS / f"{n}.ipynb") for n in WITH_EXERCISES],
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return [Path(line) for line in result.stdout.split()]


def test_student_version_folds_solutions_and_drops_outputs_and_keeps_the_rest(tmp_path: Path) -> None:
    written = _student_version(tmp_path)
    assert [p.name for p in written] == [f"{n}.ipynb" for n in WITH_EXERCISES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temporaries left
    for name, path in zip(WITH_EXERCISES, written, strict=True):
        source = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        student = nbformat.read(path, as_version=4)
        nbformat.validate(student)
        assert not [c for c in student.cells if c.cell_type == "code" and _tagged(c, "solution")]
        assert [c.source if c.cell_type == "code" and _tagged(c, "solution") else None for c in source.cells] == [
            c.source.split("```python\n")[1].rsplit("\n```", 1)[0] if _tagged(c, "solution") else None
            for c in student.cells
        ]  # each solution's code, folded in a closed <details> block
        assert all(c.source.startswith("<details>") for c in student.cells if _tagged(c, "solution"))
        assert all(c.outputs == [] for c in student.cells if c.cell_type == "code")


def test_the_committed_student_versions_are_up_to_date() -> None:
    """notebooks/student/ is what the Colab and Kaggle links open: regenerated from the sources."""
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "student_version.py"),
            *map(str, sources),
            "-o",
            str(NOTEBOOKS / "student"),
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (NOTEBOOKS / "student").glob("*.ipynb")) == [p.name for p in sources]


def test_student_version_refuses_to_overwrite_the_sources() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "student_version.py"),
            str(NOTEBOOKS / "01_mnist_cnn.ipynb"),
            "-o",
            str(NOTEBOOKS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode != 0 and "would overwrite it" in result.stderr
    assert any(_tagged(c, "solution") for c in nbformat.read(NOTEBOOKS / "01_mnist_cnn.ipynb", as_version=4).cells)


def _papermill(source: Path, out: Path, mini: Path, tmp_path: Path) -> nbformat.NotebookNode:
    return run_smoke_notebook(source, out, tmp_path, mini)


def _check_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    return ["".join(o.get("text", "") for o in c.outputs) for c in notebook.cells if _tagged(c, "check")]


@pytest.mark.e2e
def test_01_runs_under_smoke_with_every_solution_checked(mini: Path, tmp_path: Path, strict) -> None:
    done = _papermill(NOTEBOOKS / "01_mnist_cnn.ipynb", tmp_path / "01.ipynb", mini, tmp_path)
    assert [text.count("✓ Exercise") for text in _check_outputs(done)] == [1, 1, 1]
    for figure in ("see01_sobel_edges", "see01_conv1_kernels", "see01_conv1_feature_maps"):
        assert (tmp_path / "figures" / f"{figure}.png").stat().st_size > 10_000
