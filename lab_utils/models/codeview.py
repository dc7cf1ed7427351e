"""Keras on the page: the source of the `lab_utils` builders, and the compile/fit a run config stands for.

A walkthrough of "Implementing CNNs with Keras" must show the Keras it teaches. The code lives in `lab_utils`
(one copy, tested) and the notebooks display it from there, as d2l shows its `#@save` code: a student reads
exactly what runs. Code is returned as Markdown with a ```python fence, which JupyterLab and nbconvert's HTML
exporter both render as highlighted code.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from lab_utils.data import augment

from lab_utils.models import builders as models, transfer
from lab_utils.training.config import RunConfig
from lab_utils.report.display import Code
from lab_utils.errors import ConfigError

# Helpers a builder calls whose code a student needs to read the model: the blocks of the seed's Fig. 5 and
# the keras.applications base. Private plumbing (the input stem, the softmax layer) is described in prose.
_SHOWN_HELPERS: tuple[Callable[..., Any], ...] = (models.vgg_block, models.dense_block, transfer.build_base)


def fenced(code: str, language: str = "python") -> str:
    """`code` in a Markdown fence, trailing blank lines dropped."""
    return f"```{language}\n{code.rstrip()}\n```\n"


def source_of(function: Callable[..., Any]) -> str:
    """The function's source as written in lab_utils (dedented)."""
    return textwrap.dedent(inspect.getsource(function))


def _module_path(function: Callable[..., Any]) -> str:
    """`lab_utils/models/builders.py`-style location, so a student can open the file."""
    return function.__module__.replace(".", "/") + ".py"


def builder_functions(architecture: str) -> list[Callable[..., Any]]:
    """The builder of `architecture` followed by the shown helpers its source calls, in call order."""
    try:
        builder = models.MODEL_BUILDERS[architecture]
    except KeyError:
        raise ConfigError(f"unknown architecture {architecture!r}; known: {sorted(models.MODEL_BUILDERS)}") from None
    source = source_of(builder)
    called = [h for h in _SHOWN_HELPERS if re.search(rf"\b{h.__name__}\(", source)]
    return [builder, *sorted(called, key=lambda h: source.index(f"{h.__name__}("))]


def show_source(*functions: Callable[..., Any]) -> Code:
    """The highlighted source of each function, each headed by its file."""
    parts = [f"**`{f.__name__}`** — `{_module_path(f)}`\n\n{fenced(source_of(f))}" for f in functions]
    return Code("\n".join(parts))


def _builder_call(config: RunConfig, input_shape: Sequence[int], num_classes: int) -> str:
    """The builder call `train` makes for this config, keyword arguments as the config stores them."""
    builder = models.MODEL_BUILDERS[config.architecture]
    kwargs = {"input_shape": tuple(input_shape), "num_classes": num_classes, **config.model_kwargs}
    args = [f"{k}={v!r}" for k, v in kwargs.items()]
    line = f"model = {builder.__name__}({', '.join(args)})"
    if len(line) <= 100:
        return line
    return "\n".join([f"model = {builder.__name__}(", *(f"    {a}," for a in args), ")"])


def _optimizer_call(config: RunConfig) -> str:
    """The optimizer `lab_utils.training.train.make_optimizer` builds for this config."""
    if config.optimizer == "sgd":
        return f"keras.optimizers.SGD(learning_rate={config.resolved_learning_rate}, momentum={config.momentum})"
    return f"keras.optimizers.Adam(learning_rate={config.resolved_learning_rate})"


def compile_fit_code(config: RunConfig, input_shape: Sequence[int], num_classes: int) -> str:
    """Plain Keras equivalent of what `lab_utils.training.train.train` runs for `config` (a test keeps them equal)."""
    return "\n".join([
        _builder_call(config, input_shape, num_classes),
        "model.compile(",
        f"    optimizer={_optimizer_call(config)},",
        '    loss="sparse_categorical_crossentropy",  # integer labels: the same loss as one-hot categorical CE',
        '    metrics=["accuracy"],',
        ")",
        "model.fit(",
        f"    x_train, y_train, batch_size={config.batch_size}, epochs={config.epochs}, shuffle=True,",
        "    validation_data=(x_val, y_val),",
        "    callbacks=[keras.callbacks.EarlyStopping(",
        f'        monitor="{config.monitor}", patience={config.patience}, restore_best_weights=True)],',
        ")",
        "model.evaluate(x_test, y_test)",
    ])


def show_keras(config: RunConfig, input_shape: Sequence[int], num_classes: int, *, title: str, call: str) -> Code:
    """What a notebook shows beside a model it trains: its builder's Keras source, then its compile and fit."""
    header = f"#### Keras code: {title}\n\n"
    training = (f"**Compile and fit** — what `{call}` runs "
                f"(`lab_utils/training/train.py`, under this profile's budget):\n\n"
                f"{fenced(compile_fit_code(config, input_shape, num_classes))}")
    functions = builder_functions(config.architecture)
    if config.model_kwargs.get("augmentation"):
        functions.append(augment.build_augmentation)
    return Code(header + show_source(*functions) + "\n" + training)


def _layer_signature(layer: Any) -> tuple:
    """What makes two layers the same layer: type, name, output shape, weights and the settings that matter."""
    config = layer.get_config()
    keys = ("filters", "kernel_size", "strides", "padding", "units", "activation", "pool_size", "rate", "scale")
    settings = tuple(f"{k}={config[k]!r}" for k in keys if config.get(k) is not None)
    initializer = config.get("kernel_initializer")
    init_name = initializer.get("class_name") if isinstance(initializer, dict) else initializer
    return (type(layer).__name__, layer.name, tuple(layer.output.shape), layer.count_params(), settings, init_name)


def model_differences(written: Any, built: Any) -> list[str]:
    """Each way two Keras models differ layer by layer (empty when they are the same network)."""
    ours, theirs = [_layer_signature(layer) for layer in written.layers], [_layer_signature(layer) for layer in built.layers]
    problems = [f"layer {i}: {a} ≠ {b}" for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} layers ≠ {len(theirs)} layers")
    if written.count_params() != built.count_params():
        problems.append(f"{written.count_params():,} parameters ≠ {built.count_params():,}")
    return problems


def check_same_model(written: Any, built: Any) -> Code:
    """Raise if the hand-written model is not the lab_utils one; else say what was compared."""
    problems = model_differences(written, built)
    if problems:
        raise ConfigError(f"the model written in the notebook is not {built.name!r} of lab_utils:\n  "
                          + "\n  ".join(problems))
    return Code(f"Same network: {len(built.layers)} layers with the same types, names, settings and output "
                f"shapes, {built.count_params():,} parameters in both.")
