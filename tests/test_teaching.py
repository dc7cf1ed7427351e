"""The teaching walkthrough: Keras code on the page, the declared runs, exercises, the lesson profile, the claims.

Most checks read the executed notebooks of the session's smoke run (`smoke` fixture); one runs an exercise of
every notebook through papermill, as a student would by adding the exercise's call at the end.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import nbformat
import papermill
import pytest

from lab_utils import Lab

from lab_utils.models import codeview, builders as models
from lab_utils.report.claims import VERDICT_COLUMNS
from lab_utils.data.datasets import CLASS_NAMES, IMAGE_SHAPES
from lab_utils.training.experiments import EXPERIMENTS, NOTEBOOK_RUNS, get_experiment
from lab_utils.training.profiles import get_profile
from lab_utils.report.tables import read_table
from lab_utils.run.runner import NOTEBOOKS, NOTEBOOKS_DIR

RUN_LINE = re.compile(r"^(\w+?)(?: \+ (\w+))?: (?:training|loading cached run) \(", re.M)
STATUSES = {"reproduced", "not reproduced", "not checked"}


def _outputs_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell showed: streams, plain text and Markdown."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts += [data.get("text/markdown", ""), data.get("text/plain", "")]
    return "\n".join(parts)


def _executed(smoke: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4)


def _runs_asked(notebook: nbformat.NotebookNode) -> list[tuple[str, str | None]]:
    """(experiment, augmentation) of every `lab.run` the notebook made, from its "training"/"loading" lines."""
    text = "\n".join(_outputs_text(c) for c in notebook.cells if c.cell_type == "code")
    return [(m[0], m[1] or None) for m in RUN_LINE.findall(text)]


def _tagged_source(name: str, tag: str) -> str:
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    [cell] = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell.source


def test_the_hand_written_cnn_of_01_is_the_lab_utils_builder() -> None:
    namespace: dict = {}
    exec(_tagged_source("01_mnist_cnn", "keras-model").replace("model.summary()", ""), namespace)
    written = namespace["model"]
    assert codeview.model_differences(written, models.build_simple_cnn()) == []
    assert written.count_params() == 188_234
    # The check can fail: a narrower dense layer is caught and named.
    assert any("fc1" in problem for problem in codeview.model_differences(
        written, models.build_simple_cnn(dense_units=64)))


def test_01_compiles_and_fits_with_the_reports_settings() -> None:
    source = _tagged_source("01_mnist_cnn", "keras-fit")
    for setting in ("SGD(learning_rate=0.01, momentum=0.9)", "batch_size=64", "EarlyStopping(monitor=\"val_loss\"",
                    "restore_best_weights=True", "model.evaluate("):
        assert setting in source


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_compile_fit_code_is_what_train_runs(experiment: str) -> None:
    config = get_profile("lesson").apply(get_experiment(experiment).config)
    shape, classes = IMAGE_SHAPES[config.dataset], len(CLASS_NAMES[config.dataset])
    code = codeview.compile_fit_code(config, shape, classes)
    assert f"learning_rate={config.resolved_learning_rate}" in code
    assert f"batch_size={config.batch_size}, epochs={config.epochs}" in code
    assert f'monitor="{config.monitor}", patience={config.patience}' in code
    if config.architecture != "transfer":  # the builder line builds the very model train() builds
        namespace = {f.__name__: f for f in models.MODEL_BUILDERS.values()}
        exec(code.split("\nmodel.compile(")[0], namespace)
        built = models.build_model(config.architecture, input_shape=shape, num_classes=classes,
                                   **config.model_kwargs)
        assert codeview.model_differences(namespace["model"], built) == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_notebook_shows_the_keras_code_of_every_architecture_it_trains(smoke: Path, name: str) -> None:
    notebook = _executed(smoke, name)
    shown = "\n".join(o.get("data", {}).get("text/markdown", "")
                      for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    trained = {get_experiment(e, a).config.architecture for e, a in NOTEBOOK_RUNS[name]}
    if name == "05_results":
        trained = set(models.MODEL_BUILDERS)  # the report's appendix shows every architecture
    for architecture in trained:
        builder = models.MODEL_BUILDERS[architecture].__name__
        assert f"```python\ndef {builder}(" in shown, f"{name} trains {architecture} but does not show {builder}"
    assert "model.compile(" in shown or not trained


def test_the_notebooks_ask_for_exactly_the_declared_runs(smoke: Path) -> None:
    earlier: set[tuple[str, str | None]] = set()
    for name in NOTEBOOKS:
        asked = _runs_asked(_executed(smoke, name))
        new = [run for run in dict.fromkeys(asked) if run not in earlier]
        if name != "05_results":  # 05 loads every run to check the claims; it trains none
            assert new == list(NOTEBOOK_RUNS[name]), name
        else:
            assert not new
        earlier.update(asked)


def test_claims_table_has_every_claim_with_a_verdict(smoke: Path) -> None:
    rows = read_table(smoke / "tables" / "claims.csv")
    assert len(rows) == 16 and set(rows[0]) == set(VERDICT_COLUMNS)
    assert {row["verdict"] for row in rows} <= STATUSES
    # smoke's transfer runs exist, so every claim is checked; none is left "not checked".
    assert all(row["verdict"] != "not checked" for row in rows), rows
    html = (smoke / "build" / "report.html").read_text()
    for heading in ("What this run reproduces", "Assumptions and deviations", "The Keras code of every model"):
        assert heading in html
    assert 'class="highlight' in html and "build_vgg_blocks" in html  # code highlighted by nbconvert


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_ends_with_3_to_5_exercises(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    last = notebook.cells[-1].source
    assert last.startswith("## Exercises")
    assert 3 <= len(re.findall(r"^\d\. ", last, re.M)) <= 5
    assert "```python" in last


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_exercise_per_notebook_runs(smoke: Path, mini: Path, name: str, tmp_path: Path) -> None:
    """The notebook's first exercise, added as a last cell, runs under smoke against the smoke run's cache."""
    source = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    exercise = re.search(r"```python\n(.*?)```", source.cells[-1].source, re.S)[1]
    source.cells.append(nbformat.v4.new_code_cell(re.sub(r"^   ", "", exercise, flags=re.M)))
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(source, path)
    papermill.execute_notebook(
        str(path), str(path), cwd=str(NOTEBOOKS_DIR), progress_bar=False,
        parameters={"profile": "smoke", "data_dir": str(mini), "figures_dir": str(tmp_path / "figures"),
                    "tables_dir": str(tmp_path / "tables"), "runs_dir": str(smoke / "runs")},
    )
    done = nbformat.read(path, as_version=4).cells[-1]
    assert done.execution_count is not None and not [o for o in done.outputs if o.output_type == "error"]


def test_lesson_is_the_cpu_default_with_per_dataset_limits() -> None:
    lesson = get_profile("auto")
    assert lesson.name == "lesson"  # the test machines have no GPU
    assert lesson.limits("mnist") == (8000, 2000) and lesson.limits("cifar10") == (4000, 1000)
    transfer = lesson.apply(get_experiment("vgg19_adam_bn").config)
    assert transfer.model_kwargs["freeze_base"] is True and transfer.epochs == 3
    scratch = lesson.apply(get_experiment("cifar_vgg").config)
    assert (scratch.epochs, scratch.patience) == (30, 5)


def test_lesson_falls_back_to_random_weights_offline_and_quick_does_not(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached ImageNet file
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    config = get_experiment("resnet50_adam").config
    assert get_profile("lesson").apply(config).model_kwargs["weights"] is None
    assert get_profile("quick").apply(config).model_kwargs["weights"] == "imagenet"


def test_variant_trains_a_named_copy_with_the_change(mini: Path, tmp_path: Path) -> None:
    lab = Lab("smoke", data_dir=mini, runs_dir=tmp_path / "runs", verbose=0)
    run = lab.variant("mnist_mlp", hidden_units=32, learning_rate=0.05)
    assert run.name == "mnist_mlp__hidden_units-32_learning_rate-0-05"
    assert run.record.config["learning_rate"] == 0.05 and run.record.params["total"] == 784 * 32 + 32 + 330
    assert lab.run(run.name).record.key == run.record.key
    with pytest.raises(Exception, match="needs at least one change"):
        lab.variant("mnist_mlp")
    keras.backend.clear_session()
