"""Notebooks 03 and 04's exercises: each solution, run from the notebook's own cells, passes its check, and a
plausible wrong answer is rejected with a hint (under LAB_STRICT_CHECKS=1 it raises ExerciseError).

The solutions run in-process in a namespace holding what the notebook defined before its exercises: its
`keras-model` cells (03's `transfer_model`, 04's augmentation sets), a 32×32 ResNet50 `probe`, a batch of images,
and for 04.3 two runs' predictions stood in by arrays where one class gains.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import keras
import nbformat
import numpy as np
import pytest
from keras import layers

from lab_utils.exercises import EXERCISES, ExerciseError, check
from lab_utils.models.builders import build_transfer_model
from lab_utils.run.runner import NOTEBOOKS_DIR
from lab_utils.run.student import student_version

NOTEBOOKS = ("03_transfer_learning", "04_data_augmentation")
HEADING = re.compile(r"^### Exercise (\d\d\.\d) · (\w+)\n", re.M)
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


def _groups(name: str) -> dict[str, list[nbformat.NotebookNode]]:
    """Exercise id → its four cells (question, exercise, solution, check)."""
    cells = _notebook(name).cells
    return {
        m[1]: cells[i : i + 4]
        for i, c in enumerate(cells)
        if c.cell_type == "markdown" and (m := HEADING.match(c.source))
    }


def _predictions(gaining: str) -> tuple[SimpleNamespace, SimpleNamespace]:
    """Predictions without and with augmentation where only class `gaining` gains (one more right answer)."""
    y_true = np.repeat(np.arange(10), 3)
    before = y_true.copy()
    before[3 * CLASS_NAMES.index(gaining)] = (CLASS_NAMES.index(gaining) + 1) % 10
    return (
        SimpleNamespace(y_true=y_true, y_pred=before, num_classes=10),
        SimpleNamespace(y_true=y_true, y_pred=y_true.copy(), num_classes=10),
    )


class _Lab:
    """The two `lab.predictions` exercise 04.3 reads; cat gains."""

    def __init__(self) -> None:
        self.without, self.with_ = _predictions("cat")

    def predictions(self, experiment: str, augmentation: str | None = None) -> SimpleNamespace:
        assert experiment == "cifar_vgg_bn"
        return self.with_ if augmentation == "flip_shift" else self.without


@pytest.fixture(scope="module")
def context() -> dict:
    """What 03 and 04 define before their exercises (no training, no data files)."""
    namespace = {
        "keras": keras,
        "layers": layers,
        "np": np,
        "check": check,
        "lab": _Lab(),
        "cifar": SimpleNamespace(y_test=np.repeat(np.arange(10), 3), class_names=CLASS_NAMES),
        "batch": np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype("float32"),
    }
    for name in NOTEBOOKS:
        for cell in _notebook(name).cells:
            if "keras-model" in cell.metadata.get("tags", []):
                exec(cell.source, namespace)
    namespace["probe"] = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    from lab_utils.report import plotting

    namespace["plotting"] = plotting
    return namespace


def _wrong_answers(context: dict) -> dict[str, object]:
    """A plausible wrong answer per exercise."""
    return {
        "03.1": 24_114_826,  # every weight, the frozen base's too
        "03.2": build_transfer_model("vgg19", weights=None, freeze_base=True),  # still Flatten
        "03.3": context["transfer_model"](context["probe"], keras.applications.resnet50.preprocess_input),  # 32 px
        "04.1": {"model.fit(...)", "model.evaluate(...)", "model(x, training=True)"},  # evaluate runs in inference
        "04.2": keras.Sequential([layers.RandomFlip("horizontal")]),
        "04.3": "dog",
    }


def test_the_zoom_set_keeps_flip_shifts_settings(monkeypatch) -> None:
    """04.2 asks for flip_shift's two layers then a zoom: a vertical flip or a wider shift is not that set."""
    monkeypatch.setenv("LAB_STRICT_CHECKS", "1")

    def zoom_set(flip: str = "horizontal", shift: float = 0.1) -> keras.Sequential:
        return keras.Sequential(
            [
                layers.RandomFlip(flip),
                layers.RandomTranslation(height_factor=shift, width_factor=shift, fill_mode="nearest"),
                layers.RandomZoom(0.1, fill_mode="nearest"),
            ]
        )

    assert check("04.2", zoom_set()) is True
    with pytest.raises(ExerciseError, match="RandomFlip"):
        check("04.2", zoom_set(flip="vertical"))
    with pytest.raises(ExerciseError, match="RandomTranslation"):
        check("04.2", zoom_set(shift=0.2))


IDS = sorted(i for name in NOTEBOOKS for i in _groups(name))


def test_every_exercise_of_03_and_04_is_here() -> None:
    assert (
        IDS == sorted(i for i in EXERCISES if i[:2] in ("03", "04")) == ["03.1", "03.2", "03.3", "04.1", "04.2", "04.3"]
    )


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_passes_and_a_wrong_answer_is_rejected(
    exercise_id: str, context: dict, monkeypatch, capsys
) -> None:
    groups = {i: cells for name in NOTEBOOKS for i, cells in _groups(name).items()}
    _, exercise, solution, check_cell = groups[exercise_id]
    monkeypatch.setenv("LAB_STRICT_CHECKS", "1")
    namespace = dict(context)
    exec(exercise.source, namespace)  # the starter, as the student gets it: not answered yet
    assert namespace["answer"] is None
    exec(check_cell.source, namespace)
    assert "not answered yet" in capsys.readouterr().out
    exec(solution.source, namespace)
    exec(check_cell.source, namespace)
    assert f"✓ Exercise {exercise_id}" in capsys.readouterr().out

    namespace["answer"] = _wrong_answers(context)[exercise_id]
    with pytest.raises(ExerciseError, match=exercise_id):
        exec(check_cell.source, namespace)
    monkeypatch.setenv("LAB_STRICT_CHECKS", "0")
    exec(check_cell.source, namespace)
    assert f"✗ Exercise {exercise_id}" in capsys.readouterr().out


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_student_versions_checks_name_nothing_a_solution_defines(name: str) -> None:
    """Run All of the student version reaches every check: no check cell reads a name only a solution sets."""
    notebook = _notebook(name)
    assigned_in_solutions = set()
    for cell in notebook.cells:
        if "solution" in cell.metadata.get("tags", []):
            assigned_in_solutions |= {
                m for line in re.findall(r"^([\w, ]+) *=[^=]", cell.source, re.M) for m in re.split(r"[, ]+", line) if m
            }
    assigned_in_solutions.discard("answer")
    student = student_version(notebook)
    defined_elsewhere = {
        m
        for cell in student.cells
        if cell.cell_type == "code"
        for line in re.findall(r"^([\w, ]+) *=[^=]", cell.source, re.M)
        for m in re.split(r"[, ]+", line)
        if m
    }
    for cell in student.cells:
        if "check" in cell.metadata.get("tags", []):
            used = set(re.findall(r"\b([A-Za-z_]\w*)\b(?!\s*=[^=])", cell.source))  # keyword names aside
            missing = (used & assigned_in_solutions) - defined_elsewhere
            assert not missing, f"{name}: {cell.source!r} reads {missing}, set only in a solution cell"
    assert not any(c.cell_type == "code" and "solution" in c.metadata.get("tags", []) for c in student.cells)
