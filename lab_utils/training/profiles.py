"""Run profiles: how much data and how many epochs, from a smoke test on 2 cores to the report's full protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lab_utils.errors import ConfigError
from lab_utils.training.config import RunConfig


@dataclass(frozen=True)
class Profile:
    """A budget applied to every experiment of the report."""

    name: str
    description: str
    # Rows of the official training / test set kept (stratified): one number for every dataset, a number per
    # dataset name, or None = all. Every profile but smoke tests on the whole official test set: the claims'
    # paired tests need every image (a 95 % interval is about ±3 points on 1,000 images, ±1 on 10,000), and
    # predicting 10,000 CIFAR-10 images with the VGG+BN model takes seconds (9-17 s on 2 shared cores).
    train_limit: int | Mapping[str, int] | None
    test_limit: int | Mapping[str, int] | None
    max_epochs: int  # upper bound on epochs per run
    patience: int | None  # None = the report's patience of each experiment (20 or 50)
    imagenet_weights: bool  # False = transfer models start from random weights (offline smoke runs)
    imagenet_fallback: bool = False  # True = random weights when the ImageNet file is neither cached nor downloadable
    # Transfer learning on a CPU: fine-tuning all 20-24 M weights of VGG19/ResNet50 costs ~50 s per epoch of
    # 3,000 images on 2 cores (measured), so a CPU profile may train only the new head on a frozen base.
    freeze_transfer_base: bool = False
    transfer_max_epochs: int | None = None  # None = max_epochs
    # A second stage of fine-tuning (notebook 03) trains every weight of a 24 M-parameter base: one epoch on a CPU.
    second_stage_max_epochs: int | None = None
    # Training seeds per run when the user names none: one where time is short (a CPU lesson), five where the
    # report's claims are judged at full scale (Bouthillier et al., MLSys 2021: seeds move accuracies by points;
    # with k seeds a method test has about k - 1 degrees of freedom, so 3 seeds leave the t at 4.3 instead of 2.8).
    seeds: int = 1

    def limits(self, dataset: str) -> tuple[int | None, int | None]:
        """(train_limit, test_limit) for one dataset."""

        def pick(limit: int | Mapping[str, int] | None) -> int | None:
            return limit.get(dataset) if isinstance(limit, Mapping) else limit

        return pick(self.train_limit), pick(self.test_limit)

    def _use_imagenet(self, base: str) -> bool:
        """Whether transfer bases start from ImageNet weights under this profile, on this machine."""
        if not self.imagenet_weights:
            return False
        if not self.imagenet_fallback:
            return True  # building the base downloads the file, or stops with WeightsError saying what to do
        from lab_utils.models.transfer import (
            imagenet_weights_available,
        )  # imports Keras: not before the backend is chosen

        return imagenet_weights_available(base)

    def apply(self, config: RunConfig, *, epochs: int | None = None) -> RunConfig:
        """The experiment's config under this profile's budget (`epochs` overrides max_epochs)."""
        transfer = config.architecture == "transfer"
        budget = self.transfer_max_epochs if transfer and self.transfer_max_epochs else self.max_epochs
        changes: dict = {"epochs": min(config.epochs, budget) if epochs is None else epochs}
        if self.patience is not None:
            changes["patience"] = min(config.patience, self.patience)
        kwargs = dict(config.model_kwargs)
        if kwargs.get("weights") == "imagenet" and not self._use_imagenet(kwargs["base"]):
            kwargs["weights"] = None
        if transfer and self.freeze_transfer_base and config.starts_from is None:  # a second stage unfreezes
            kwargs["freeze_base"] = True
        if config.starts_from is not None and self.second_stage_max_epochs and epochs is None:
            changes["epochs"] = min(changes["epochs"], self.second_stage_max_epochs)
        if kwargs != config.model_kwargs:
            changes["model_kwargs"] = kwargs
        return config.replace(**changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="a few hundred images, 1 epoch, random-init frozen transfer bases: every notebook in minutes "
        "on 2 cores",
        train_limit=600,
        test_limit=300,
        max_epochs=1,
        patience=1,
        imagenet_weights=False,
        freeze_transfer_base=True,  # fine-tuning 24 M weights costs 40 s of a 1-epoch smoke run
        second_stage_max_epochs=1,
    ),
    "lesson": Profile(
        name="lesson",
        description="the CPU default: ≤ 2,000 CIFAR-10 / 8,000 MNIST training images, the whole test set, ≤ 25 "
        "epochs with early stopping (patience 5); transfer: new head on a frozen base, ≤ 3 epochs; the "
        "whole report in under 30 min on 2 cores",
        # CIFAR-10 and the epochs sized so that the six notebooks stay under 30 min on a 2-core AVX2 CPU
        # (docs/performance.md): VGG-block epochs are most of the time, and they scale with the images.
        train_limit={"mnist": 8000, "fashion_mnist": 8000, "cifar10": 2000},
        test_limit=None,
        max_epochs=25,
        patience=5,
        imagenet_weights=True,
        imagenet_fallback=True,
        freeze_transfer_base=True,
        transfer_max_epochs=3,
        second_stage_max_epochs=1,
    ),
    "quick": Profile(
        name="quick",
        description="full datasets, a few epochs: a laptop CPU in a few hours",
        train_limit=None,
        test_limit=None,
        max_epochs=3,
        patience=2,
        imagenet_weights=True,
    ),
    "full": Profile(
        name="full",
        description="the report's protocol: early stopping with patience 20/50, up to 200 epochs, 5 seeds per run "
        "(for a GPU)",
        train_limit=None,
        test_limit=None,
        max_epochs=200,
        patience=None,
        imagenet_weights=True,
        seeds=5,
    ),
}


def get_profile(name: str) -> Profile:
    """Look a profile up by name, with an error that lists the valid ones.

    "auto" in a notebook means `lesson` on any device: one Run All takes minutes, never the hours of the report's
    200-epoch protocol. run_all.sh resolves "auto" itself (`full` on a GPU) before it starts the notebooks.
    """
    if name == "auto":
        print(
            'profile "auto" → "lesson" (minutes on a laptop); for the report\'s full protocol (for a GPU) set '
            'profile = "full" in the parameters cell, or run ./run_all.sh',
            flush=True,
        )
        return PROFILES["lesson"]
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}: choose one of auto, {', '.join(PROFILES)}") from None
