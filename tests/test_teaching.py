"""Keras in view: the notebooks' hand-written models are the batch workers' models, `lab.fit` trains what the
notebook built, the run cache follows the built model, and `model.fit` is a few calls from a notebook cell.

The fast tests exec the notebooks' own model cells (tagged `keras-model`) and train tiny runs; the e2e tests read
the executed notebooks of the session's smoke run (`smoke` fixture).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
from keras import layers

from lab_utils import Lab
from lab_utils.models import builders
from lab_utils.run.runner import NOTEBOOKS, NOTEBOOKS_DIR
from lab_utils.training import fit as fit_module
from lab_utils.training import runtime
from lab_utils.training.experiments import NOTEBOOK_RUNS, get_experiment
from lab_utils.training.fit import reseed_random_layers
from lab_utils.training.profiles import get_profile
from lab_utils.training.signature import model_differences, model_signature

from .helpers import run_smoke_notebook

LAB_UTILS = Path(builders.__file__).resolve().parents[1]
RUN_LINE = re.compile(r"^(\w+): (trained|loaded from the run cache) \(", re.M)


def _model_cells(name: str) -> dict:
    """Exec a notebook's `keras-model` cells, as a student runs them, and return what they defined."""
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    namespace = {"keras": keras, "layers": layers, "seed": 0}
    cells = [c.source for c in notebook.cells if "keras-model" in c.metadata.get("tags", [])]
    assert cells, f"{name} has no cell tagged keras-model"
    for source in cells:
        exec(source.replace(".summary()", ".count_params()"), namespace)
    return namespace


def test_01s_hand_written_models_are_the_builders_models() -> None:
    cells = _model_cells("01_mnist_cnn")
    assert model_differences(cells["model"], builders.build_simple_cnn()) == []
    assert model_differences(cells["baseline"], builders.build_mlp()) == []
    assert model_differences(cells["model"], builders.build_simple_cnn(dense_units=64))  # the check can fail


def test_01s_seeded_clone_starts_where_the_workers_run_starts(lab: Lab) -> None:
    """Notebook 01 trains a seeded `clone_model` of its first-try model: the same initial weights and cache key as
    the builder's model a batch worker trains."""
    from lab_utils.training.session import catalogued_model

    written = _model_cells("01_mnist_cnn")["model"]
    keras.utils.set_random_seed(0)
    clone = keras.models.clone_model(written)
    clone.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    built, _ = catalogued_model(lab.config("mnist_cnn"), lab.dataset("mnist"))
    assert all((a == b).all() for a, b in zip(clone.get_weights(), built.get_weights(), strict=True))
    assert lab.compare_with_catalogue(clone, lab.config("mnist_cnn")) == []


def test_02s_hand_written_models_are_the_builders_models() -> None:
    cells = _model_cells("02_cifar10_cnn")
    cifar = {"input_shape": (32, 32, 3)}
    assert model_differences(cells["simple_cnn"](), builders.build_simple_cnn(**cifar)) == []
    assert model_differences(cells["simple_cnn"](dropout=0.5), builders.build_simple_cnn(**cifar, dropout=0.5)) == []
    assert model_differences(cells["vgg_model"](), builders.build_vgg_blocks()) == []
    assert model_differences(cells["vgg_model"](batch_norm=True), builders.build_vgg_blocks(batch_norm=True)) == []
    # The check can fail: a narrower third block is found and named.
    problems = model_differences(cells["vgg_model"](filters=(32, 64, 96)), builders.build_vgg_blocks())
    assert problems and "filters: 96 vs 128" in problems[0]


def test_the_signature_ignores_names_and_dtypes_but_not_the_architecture() -> None:
    assert model_signature(builders.build_mlp(name="a")) == model_signature(builders.build_mlp(name="b"))
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        bf16 = builders.build_mlp()
    finally:
        keras.config.set_dtype_policy("float32")
    assert model_signature(bf16) == model_signature(builders.build_mlp())
    assert model_signature(builders.build_mlp(hidden_units=64)) != model_signature(builders.build_mlp())


def _compiled_mlp(hidden_units: int = 16, learning_rate: float = 0.01) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = builders.build_mlp(hidden_units=hidden_units, name="my_mlp")
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.fixture
def lab(mini: Path, tmp_path: Path) -> Lab:
    return Lab(
        "smoke",
        data_dir=mini,
        runs_dir=tmp_path / "runs",
        tables_dir=tmp_path / "tables",
        figures_dir=tmp_path / "figures",
        verbose=0,
    )


def test_lab_fit_trains_the_notebooks_model_then_loads_it_into_a_fresh_copy(lab: Lab) -> None:
    first = lab.fit(_compiled_mlp(), "mnist_mlp", epochs=1)
    again = _compiled_mlp()
    second = lab.fit(again, "mnist_mlp", epochs=1)
    assert not first.cached and second.cached and second.record.key == first.record.key
    assert second.model is again  # the notebook's own model object now holds the trained weights
    for a, b in zip(first.model.get_weights(), again.get_weights(), strict=True):
        assert (a == b).all()
    # Anything that changes what is learned trains anew: the width, the optimizer's rate, the fit settings.
    assert not lab.fit(_compiled_mlp(hidden_units=8), "mnist_mlp", epochs=1).cached
    assert not lab.fit(_compiled_mlp(learning_rate=0.05), "mnist_mlp", epochs=1).cached
    assert not lab.fit(_compiled_mlp(), "mnist_mlp", epochs=1, batch_size=32).cached


def test_a_model_equal_to_the_catalogued_one_loads_the_catalogued_run(lab: Lab, monkeypatch) -> None:
    catalogued = lab.run("mnist_mlp")  # what a batch worker trains, with the builder
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("fit() ran for a cached run"))
    keras.utils.set_random_seed(lab.seed)
    written = builders.build_mlp(name="written_in_a_notebook")
    written.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    assert lab.fit(written, "mnist_mlp").record.key == catalogued.record.key


def test_changing_a_builders_width_retrains_that_run(lab: Lab, mini: Path, monkeypatch) -> None:
    before = lab.run("mnist_mlp")
    assert Lab("smoke", data_dir=mini, runs_dir=lab.runs_dir, verbose=0).is_cached("mnist_mlp")
    wider = builders.build_mlp.__kwdefaults__ | {"hidden_units": 256}
    monkeypatch.setattr(builders.build_mlp, "__kwdefaults__", wider)  # as if builders.py were edited
    edited = Lab("smoke", data_dir=mini, runs_dir=lab.runs_dir, verbose=0)
    assert not edited.is_cached("mnist_mlp")
    after = edited.run("mnist_mlp")
    assert not after.cached and after.record.key != before.record.key
    assert after.record.params["total"] == 784 * 256 + 256 + 2570


def test_random_layers_draw_from_the_runs_seed_not_from_when_they_were_built() -> None:
    masks = {}
    for build_seed, run_seed in ((1, 0), (2, 0), (2, 5)):
        keras.utils.set_random_seed(build_seed)  # another random state at build time: other layer seeds
        model = builders.build_simple_cnn(dropout=0.5)
        reseed_random_layers(model, run_seed)
        ones = np.ones((4, 64), "float32")
        masks[build_seed, run_seed] = keras.ops.convert_to_numpy(model.get_layer("dropout1")(ones, training=True))
    assert (masks[1, 0] == masks[2, 0]).all()
    assert (masks[2, 0] != masks[2, 5]).any()  # the run's seed still matters


def test_lab_fit_refuses_an_uncompiled_model(lab: Lab) -> None:
    with pytest.raises(Exception, match=r"not compiled: call model.compile\("):
        lab.fit(builders.build_mlp(), "mnist_mlp")


def _lab_utils_frames_above_fit(call) -> list[inspect.FrameInfo]:
    """The lab_utils frames between the caller and keras.Model.fit when `call()` trains."""
    seen: list[list[inspect.FrameInfo]] = []
    real_fit = keras.Model.fit

    def recording_fit(self, *args, **kwargs):
        seen.append([f for f in inspect.stack()[1:] if Path(f.filename).resolve().is_relative_to(LAB_UTILS)])
        return real_fit(self, *args, **kwargs)

    keras.Model.fit = recording_fit
    try:
        call()
    finally:
        keras.Model.fit = real_fit
    assert len(seen) == 1, "model.fit was not called exactly once"
    return seen[0]


@pytest.mark.parametrize(("how", "most"), [("lab.fit", 3), ("lab.run", 4)])
def test_model_fit_is_a_few_lab_utils_calls_from_a_notebook_cell(lab: Lab, how: str, most: int) -> None:
    call = (
        (lambda: lab.fit(_compiled_mlp(), "mnist_mlp", epochs=1))
        if how == "lab.fit"
        else (lambda: lab.run("mnist_mlp"))
    )
    frames = _lab_utils_frames_above_fit(call)
    print(f"{how} → model.fit: " + " → ".join(f"{Path(f.filename).name}:{f.function}" for f in reversed(frames)))
    assert 1 <= len(frames) <= most and len({f.filename for f in frames}) <= 2, frames
    assert frames[0].function == fit_module.fit_model.__name__  # the function notebook 01 shows
    # The shown function is short: model.fit with early stopping, as a notebook writes it.
    source = inspect.getsource(fit_module.fit_model)
    assert len(source.splitlines()) <= 20 and "model.fit(" in source and "EarlyStopping(" in source


def _edited_mlp() -> keras.Model:
    """The MLP as a student might edit it: 96 hidden units, SGD at 0.02 (the report's: 128, 0.01), seeded."""
    keras.utils.set_random_seed(0)
    edited = builders.build_mlp(hidden_units=96, name="mine")
    edited.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.02, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return edited


def test_an_edited_model_trains_under_its_own_key_and_says_how_it_differs(lab: Lab, capsys) -> None:
    edited = _edited_mlp()
    run = lab.fit(edited, "mnist_mlp")
    said = capsys.readouterr().out
    assert (
        "your model, not the report's" in said and "units: 96 vs 128" in said and "learning rate 0.02 vs 0.01" in said
    )
    assert lab.differences[("mnist_mlp", None)] and lab.runs("mnist_mlp")[0] is run
    table = lab.accuracy_table("mnist", ["mnist_mlp"], caption="edited")
    assert table[0]["model"].startswith("yours: ")


def test_an_edited_model_trains_under_every_seed_of_the_session(mini: Path, tmp_path: Path) -> None:
    """With seeds=2 the second seed is the student's model again (reseeded), never the catalogue's."""
    lab = Lab("smoke", data_dir=mini, runs_dir=tmp_path / "runs", seeds=2, verbose=0)
    edited = _edited_mlp()
    lab.fit(edited, "mnist_mlp")
    first, second = lab.runs("mnist_mlp")
    assert [r.record.config["seed"] for r in (first, second)] == [0, 1]
    differences = "; ".join(lab.compare_with_catalogue(second.model, lab.config("mnist_mlp")))
    assert "units: 96 vs 128" in differences and "learning rate 0.02 vs 0.01" in differences
    assert first.record.key != second.record.key
    keras.utils.set_random_seed(0)  # the report's CNN: its other seed is the catalogue's run, trained on demand
    report = builders.build_simple_cnn(name="report")
    report.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    lab.fit(report, "mnist_cnn")
    assert [r.record.config["seed"] for r in lab.runs("mnist_cnn")] == [0, 1]


def test_a_base_without_the_imagenet_file_is_recorded_as_random(monkeypatch) -> None:
    """Tables and claims read `weights` from the run's config: a base a notebook built with weights=None (or
    without the ImageNet file) must not be recorded as ImageNet because the catalogue asked for it."""
    from lab_utils.models import transfer
    from lab_utils.training.session import Session

    base = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3)], name="resnet50")
    model = keras.Sequential([keras.Input((32, 32, 3)), base, layers.Flatten(), layers.Dense(10)])
    config = get_experiment("resnet50_adam").config
    assert config.model_kwargs["weights"] == "imagenet"
    monkeypatch.setattr(transfer, "imagenet_weights_available", lambda name: True)
    monkeypatch.setattr(transfer, "_imagenet_first_kernel", lambda name, home: np.zeros((3, 3, 3, 4), "float32"))
    assert Session._with_base_weights(model, config, None).model_kwargs["weights"] is None  # random kernel
    base.set_weights([np.zeros((3, 3, 3, 4), "float32"), np.zeros(4, "float32")])  # now the "ImageNet" kernel
    assert Session._with_base_weights(model, config, None) == config


def test_auto_is_lesson_in_a_notebook_and_run_all_picks_full_on_an_accelerator(capsys) -> None:
    from lab_utils.run.runner import resolve_profile

    assert get_profile("auto").name == "lesson" and 'set profile = "full"' in capsys.readouterr().out
    expected = "full" if runtime.accelerator() else "lesson"  # asks the backend, whatever machine runs it
    assert resolve_profile("auto") == expected
    lesson = get_profile("lesson")
    assert lesson.limits("mnist") == (8000, None) and lesson.limits("cifar10") == (2000, None)
    transfer = lesson.apply(get_experiment("vgg19_adam_bn").config)
    assert transfer.model_kwargs["freeze_base"] is True and transfer.epochs == 3
    second_stage = lesson.apply(get_experiment("resnet50_adam_finetuned").config)
    assert second_stage.model_kwargs["freeze_base"] is False and second_stage.epochs == 1


def test_lesson_falls_back_to_random_weights_offline_and_quick_does_not(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached ImageNet file
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    config = get_experiment("resnet50_adam").config
    assert get_profile("lesson").apply(config).model_kwargs["weights"] is None
    assert get_profile("quick").apply(config).model_kwargs["weights"] == "imagenet"


def _runs_reported(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(run name, "trained" | "loaded from the run cache") for each catalogued run a notebook fitted or loaded
    (exercise solutions train variants of their own: left out)."""
    text = "\n".join(
        o.get("text", "")
        for c in notebook.cells
        if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
        for o in c.get("outputs", [])
    )
    return RUN_LINE.findall(text)


def test_the_notebooks_fit_exactly_the_declared_runs(smoke: Path) -> None:
    earlier: set[str] = set()
    for name in NOTEBOOKS:
        asked = [run for run, _ in _runs_reported(nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4))]
        new = [run for run in dict.fromkeys(asked) if run not in earlier]
        declared = [get_experiment(e, a).config.experiment for e, a in NOTEBOOK_RUNS[name]]
        if name != "05_results":  # 05 loads every run to check the claims; it trains none
            assert new == declared, name
        else:
            assert not new
        earlier.update(asked)


def test_after_the_workers_filled_the_cache_the_notebooks_train_nothing(smoke: Path) -> None:
    """The smoke run trains every catalogued run on 2 workers first (--workers 2): the notebooks' own Keras
    models, equal to the builders', then load every run from the cache."""
    assert (
        "runs these notebooks need are not in the run cache: training them on 2 local worker(s)"
        in (smoke / "run_all.stdout").read_text()
    )
    for name in NOTEBOOKS:
        reported = _runs_reported(nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4))
        assert reported or name in ("00_data_exploration", "05_results")
        trained = [run for run, how in reported if how == "trained"]
        assert not trained, f"{name} trained {trained} although the workers had trained every catalogued run"


def test_every_exercise_solution_passed_its_check_in_the_smoke_run(smoke: Path) -> None:
    """The executed notebooks ran every solution, then its check: each check cell says ✓ (explore exercises that
    read a notebook's trained runs are checked only here)."""
    for name in NOTEBOOKS:
        notebook = nbformat.read(smoke / "build" / f"{name}.ipynb", as_version=4)
        checks = [c for c in notebook.cells if "check" in c.metadata.get("tags", [])]
        said = ["".join(o.get("text", "") for o in c.get("outputs", [])) for c in checks]
        assert all("✓ Exercise" in text and "✗" not in text for text in said), (name, said)


# A student's edit (a width, a rate), the run it must retrain, and the difference the notebook must name.
EDITS = {
    "01_mnist_cnn": ("1024 features\nx = layers.Dense(128,", "Dense(128", "Dense(96", "mnist_cnn", "units: 96 vs 128"),
    "02_cifar10_cnn": (
        'x = layers.Dense(128, activation="relu", kernel_initializer="he_uniform", name="fc1")(x)\n'
        '    if dropout:\n        x = layers.Dropout(dropout, name="dropout2")',
        "Dense(128",
        "Dense(96",
        "cifar_simple_cnn",
        "units: 96 vs 128",
    ),
    "04_data_augmentation": (
        'layers.RandomTranslation(height_factor=0.1, width_factor=0.1, fill_mode="nearest"),\n'
        '    ], name="augmentation")\n\n\ndef flips()',
        "0.1",
        "0.2",
        "cifar_vgg_flip_shift",
        "RandomTranslation.height_factor: 0.2 vs 0.1",
    ),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_notebook_runs_to_the_end_and_retrains_the_edited_run(
    name: str, smoke: Path, tmp_path: Path, mini: Path
) -> None:
    """Edit a model the way a lab invites (a width, a rate), Run All: no assertion stops the notebook, the edited
    run trains under its own key (the rest load from the smoke run's cache), one line names the difference and
    the tables label the row as the student's."""
    import shutil

    where, old, new, run, difference = EDITS[name]  # `old` → `new` everywhere in `where`
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code" and where in c.source]
    assert len(cells) == 1, f"{name}: the edit's place is not one cell"
    cells[0].source = cells[0].source.replace(where, where.replace(old, new), 1)
    nbformat.write(notebook, tmp_path / f"{name}.ipynb")
    shutil.copytree(smoke / "runs", tmp_path / "runs")
    done = run_smoke_notebook(tmp_path / f"{name}.ipynb", tmp_path / "out.ipynb", tmp_path, mini)  # raises on error
    text = "\n".join(o.get("text", "") for c in done.cells if c.cell_type == "code" for o in c.get("outputs", []))
    said = [line for line in text.splitlines() if line.startswith(f"{run}: ")]
    assert said and said[0].startswith(f"{run}: trained (your model, not the report's: ") and difference in said[0]
    assert any("yours: " in p.read_text() for p in (tmp_path / "tables").glob("*.md")), "no table labels it"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_students_page_holds_only_standard_keras(name: str) -> None:
    """No lab_utils speed-up or preset in a code cell: the model, its compile and its fit are the Keras any tutorial
    writes; 02–04 build every run they train; 01 and 02 write `model.fit(` and `model.evaluate(` out."""
    code = "\n".join(
        c.source for c in nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"
    )
    for banned in (
        "FusedBatchNormalization",
        "base_weights",
        "compile_options",
        "CaffePreprocessing",
        "set_dtype_policy",
    ):
        assert banned not in code, f"{name}: {banned} in a code cell"
    if name[:2] in ("02", "03", "04"):
        assert "lab.run(" not in code, f"{name} trains a run it did not build"
    if name[:2] in ("01", "02"):
        assert "model.fit(" in code and "model.evaluate(" in code, f"{name}: write the Keras program out"
    if name[:2] == "02":
        assert "layers.BatchNormalization(" in code
