"""The report's outputs as data: every figure and table, its caption, and the notebook that makes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Output:
    """One figure or table of the report, as this project regenerates it."""

    name: str  # file stem under figures/ or tables/
    caption: str  # the report's caption, in our words
    notebook: str  # the notebook that writes it


FIGURES = (
    Output("fig01_mnist_samples", "Fig. 1 — MNIST training images with their true labels", "00_data_exploration"),
    Output(
        "fig02_mnist_class_distribution",
        "Fig. 2 — MNIST images per class in train, validation and test",
        "00_data_exploration",
    ),
    Output("fig03_cifar10_samples", "Fig. 3 — CIFAR-10 training images, one row per class", "00_data_exploration"),
    Output("fig04_mnist_cnn_architecture", "Fig. 4 — the MNIST CNN, drawn from the built Keras model", "01_mnist_cnn"),
    Output(
        "fig05_cifar10_vgg_architecture", "Fig. 5 — the VGG-block CNN with batch norm for CIFAR-10", "02_cifar10_cnn"
    ),
    Output(
        "fig06_augmentations",
        "Fig. 6 — 8 random augmentations (flip + shifts) of training image 80, original first with a border",
        "04_data_augmentation",
    ),
    Output(
        "fig07_simple_cnn_curves",
        "Fig. 7 — loss and accuracy of the simple CNN without (a, b) and with (c, d) dropout",
        "02_cifar10_cnn",
    ),
    Output(
        "fig08_confusion_vgg_bn",
        "Fig. 8 — confusion matrix (% of each true class), VGG blocks + batch norm",
        "02_cifar10_cnn",
    ),
    Output(
        "fig09_misclassified_cats",
        "Fig. 9 — cats misclassified by VGG blocks + batch norm, with the model's confidence",
        "02_cifar10_cnn",
    ),
    Output("fig10_best_model_curves", "Fig. 10 — training curves of the best model", "04_data_augmentation"),
    Output("fig11_confusion_best_model", "Fig. 11 — confusion matrix of the best model", "04_data_augmentation"),
    Output(
        "fig12_most_confident_mistakes",
        "Fig. 12 — the 25 most confident mistakes of the best model",
        "04_data_augmentation",
    ),
)

# Figures the report does not have: each idea of the lab seen at work on real data (issue "Keras in view").
IDEA_FIGURES = (
    Output("see01_sobel_edges", "A hand-made Sobel kernel applied to a digit with keras.ops.conv", "01_mnist_cnn"),
    Output("see01_conv1_kernels", "The 32 first-layer kernels of the trained MNIST CNN", "01_mnist_cnn"),
    Output("see01_conv1_feature_maps", "What those kernels make of one digit: conv1's feature maps", "01_mnist_cnn"),
    Output(
        "see02_dropout_modes",
        "Dropout(0.5) called on one batch with training=True and training=False",
        "02_cifar10_cnn",
    ),
    Output(
        "see02_batch_norm_modes",
        "BatchNormalization on one batch: batch statistics vs running averages",
        "02_cifar10_cnn",
    ),
    Output(
        "see02_feature_maps_block1",
        "The first convolution's feature maps of the trained VGG + BN model",
        "02_cifar10_cnn",
    ),
    Output(
        "see02_occlusion_cats",
        "Occlusion sensitivity of the misclassified cats: where the wrong evidence was",
        "02_cifar10_cnn",
    ),
    Output(
        "see04_augmentation_modes",
        "flip + shift layers called with training=True and training=False",
        "04_data_augmentation",
    ),
    Output(
        "see04_occlusion_mistakes",
        "Occlusion sensitivity of the best model's most confident mistakes",
        "04_data_augmentation",
    ),
)
ALL_FIGURES = FIGURES + IDEA_FIGURES

TABLES = (
    Output("mnist", "MNIST: one-hidden-layer network vs CNN (section V-A)", "01_mnist_cnn"),
    Output("table1", "Table I — simple CNN and VGG-block CNNs on CIFAR-10", "02_cifar10_cnn"),
    Output("table2", "Table II — transfer learning from ImageNet", "03_transfer_learning"),
    Output("table3", "Table III — data augmentation, without → with", "04_data_augmentation"),
)


def missing_outputs(figures_dir: Path, tables_dir: Path) -> list[Path]:
    """Every expected figure PNG and table CSV/Markdown that does not exist."""
    expected = [Path(figures_dir) / f"{f.name}.png" for f in ALL_FIGURES]
    expected += [Path(tables_dir) / f"{t.name}{suffix}" for t in TABLES for suffix in (".csv", ".md")]
    return [path for path in expected if not path.is_file()]


def show_report(figures_dir: Path, tables_dir: Path) -> None:
    """Display every table (Markdown) and figure (PNG) in a notebook, in the report's order, then the lab's own."""
    from IPython.display import Image, Markdown, display

    for table in TABLES:
        path = Path(tables_dir) / f"{table.name}.md"
        display(
            Markdown(
                f"### {table.caption}\n\n"
                + (path.read_text(encoding="utf-8") if path.is_file() else f"*missing: run `{table.notebook}` first*")
            )
        )
    for figure in ALL_FIGURES:
        path = Path(figures_dir) / f"{figure.name}.png"
        display(Markdown(f"### {figure.caption}\n*{figure.name}.png, from `{figure.notebook}`*"))
        if path.is_file():
            display(Image(filename=str(path)))
        else:
            display(Markdown(f"*missing: run `{figure.notebook}` first*"))
