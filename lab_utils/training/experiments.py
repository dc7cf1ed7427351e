"""The report's experiments as data: each row of the report's tables is one named RunConfig.

The batch workers train these with lab_utils' builders; the notebooks build the same models in Keras and train
them with `lab.fit(model, name)`, which takes the name's fit settings from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab_utils.data.augment import AUGMENTATION_PRESETS, get_preset
from lab_utils.errors import ConfigError
from lab_utils.training.config import RunConfig


@dataclass(frozen=True)
class Experiment:
    """One trained model of the report, with the name the paper gives it."""

    label: str  # the paper's row name, e.g. "VGG blocks + Dropout + Batch norm"
    config: RunConfig


def _cnn(name: str, label: str, dataset: str, architecture: str, patience: int, **kwargs) -> Experiment:
    """A model trained from scratch with the report's SGD (lr 0.01, momentum 0.9)."""
    config = RunConfig(
        experiment=name,
        dataset=dataset,
        architecture=architecture,
        model_kwargs=kwargs,
        optimizer="sgd",
        epochs=200,
        patience=patience,
    )
    return Experiment(label, config)


def _transfer(
    name: str,
    label: str,
    base: str,
    optimizer: str,
    *,
    learning_rate: float = 1e-4,
    starts_from: str | None = None,
    **kwargs,
) -> Experiment:
    """A fine-tuned ImageNet model: the report lowers the rate to 1e-4 for SGD and Adam, patience 20."""
    config = RunConfig(
        experiment=name,
        dataset="cifar10",
        architecture="transfer",
        model_kwargs={"base": base, "weights": "imagenet", "freeze_base": False} | kwargs,
        optimizer=optimizer,
        learning_rate=learning_rate,
        epochs=200,
        patience=20,
        starts_from=starts_from,
    )
    return Experiment(label, config)


_ALL = [
    # MNIST (section V-A): the one-hidden-layer baseline against the CNN of section IV-A.1.
    _cnn("mnist_mlp", "MLP (one hidden layer)", "mnist", "mlp", 20),
    _cnn("mnist_cnn", "CNN", "mnist", "simple_cnn", 20),
    # Table I: CIFAR-10 from scratch. The report raised patience to 50 for the VGG models.
    _cnn("cifar_simple_cnn", "Simple CNN", "cifar10", "simple_cnn", 20),
    _cnn("cifar_simple_cnn_dropout", "Simple CNN + Dropout", "cifar10", "simple_cnn", 20, dropout=0.5),
    _cnn("cifar_vgg", "VGG blocks + Dropout", "cifar10", "vgg_blocks", 50),
    _cnn("cifar_vgg_bn", "VGG blocks + Dropout + Batch norm", "cifar10", "vgg_blocks", 50, batch_norm=True),
    # Table II: transfer learning.
    _transfer("resnet50_sgd", "Resnet50 + SGD", "resnet50", "sgd"),
    _transfer("resnet50_adam", "Resnet50 + Adam", "resnet50", "adam"),
    _transfer("resnet50_adam_bn", "Resnet50 + Adam + Batch norm", "resnet50", "adam", batch_norm=True),
    _transfer("vgg19_adam", "VGG19 + Adam", "vgg19", "adam"),
    _transfer("vgg19_adam_bn", "VGG19 + Adam + Batch norm", "vgg19", "adam", batch_norm=True),
    # Notebook 03's two stages (the Keras transfer-learning guide's recipe, not rows of the report): a new head on
    # the frozen base, then the trained model with its base unfrozen, recompiled at a ten times lower rate.
    _transfer("resnet50_adam_head", "Resnet50 + Adam, head only", "resnet50", "adam", freeze_base=True),
    _transfer(
        "resnet50_adam_finetuned",
        "Resnet50 + Adam, head, then fine-tuned at 1e-5",
        "resnet50",
        "adam",
        learning_rate=1e-5,
        starts_from="resnet50_adam_head",
    ),
]
EXPERIMENTS: dict[str, Experiment] = {e.config.experiment: e for e in _ALL}

# The augmentation set the report kept (Table III); the others are the sets it rejected.
FINAL_AUGMENTATION = "flip_shift"


# Fig. 10-12 show "the best model": the augmented run with the best validation accuracy among these (Table III).
BEST_MODEL_CANDIDATES: tuple[tuple[str, str], ...] = tuple(
    (name, FINAL_AUGMENTATION)
    for name in (
        "cifar_vgg",
        "cifar_vgg_bn",
        "resnet50_sgd",
        "resnet50_adam",
        "resnet50_adam_bn",
        "vgg19_adam",
        "vgg19_adam_bn",
    )
)

# The report's trainings as data: the (experiment, augmentation) runs each notebook asks for, in order. A test
# checks the executed notebooks trained exactly these, and showed the Keras code of each architecture.
NOTEBOOK_RUNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "00_data_exploration": (),
    "01_mnist_cnn": (("mnist_cnn", None), ("mnist_mlp", None)),
    "02_cifar10_cnn": (
        ("cifar_simple_cnn", None),
        ("cifar_simple_cnn_dropout", None),
        ("cifar_vgg", None),
        ("cifar_vgg_bn", None),
    ),
    "03_transfer_learning": (
        ("resnet50_adam_head", None),
        ("resnet50_adam_finetuned", None),
        ("resnet50_sgd", None),
        ("resnet50_adam", None),
        ("vgg19_adam_bn", None),
    ),
    "04_data_augmentation": (
        ("cifar_vgg", "flip_shift"),
        ("cifar_vgg_bn", "flip_shift"),
        ("cifar_vgg", "flip_rotate"),
        ("cifar_vgg", "flip"),
        ("resnet50_sgd", "flip_shift"),
        ("resnet50_adam", "flip_shift"),
        ("resnet50_adam_bn", None),
        ("resnet50_adam_bn", "flip_shift"),
        ("vgg19_adam", None),
        ("vgg19_adam", "flip_shift"),
        ("vgg19_adam_bn", "flip_shift"),
    ),
    "05_results": (),
}


# Notebooks that load every run of the report from the cache (and train whatever is missing first).
LOADS_EVERY_RUN = ("05_results",)


def get_experiment(name: str, augmentation: str | None = None) -> Experiment:
    """An experiment by name, optionally with an augmentation preset added (a separate cached run)."""
    try:
        experiment = EXPERIMENTS[name]
    except KeyError:
        raise ConfigError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}") from None
    if augmentation is None:
        return experiment
    label = get_preset(augmentation).label
    config = experiment.config
    augmented = config.replace(
        experiment=f"{config.experiment}_{augmentation}",
        model_kwargs={**config.model_kwargs, "augmentation": augmentation},
    )
    return Experiment(f"{experiment.label} [{label}]", augmented)


for _runs in NOTEBOOK_RUNS.values():  # a typo in the catalogue fails at import, not as a silently missing row
    for _name, _augmentation in _runs:
        get_experiment(_name, _augmentation)
assert FINAL_AUGMENTATION in AUGMENTATION_PRESETS
