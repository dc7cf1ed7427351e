"""Run profiles: how much data and how many epochs, from a smoke test on 2 cores to the seed's full protocol."""

from __future__ import annotations

from dataclasses import dataclass

from .config import RunConfig
from .errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """A budget applied to every experiment of the report."""

    name: str
    description: str
    train_limit: int | None  # rows of the official training set kept (stratified), None = all
    test_limit: int | None  # rows of the test set kept, None = all
    max_epochs: int  # upper bound on epochs per run
    patience: int | None  # None = the seed's patience of each experiment (20 or 50)
    imagenet_weights: bool  # False = transfer models start from random weights (offline smoke runs)

    def apply(self, config: RunConfig, *, epochs: int | None = None) -> RunConfig:
        """The experiment's config under this profile's budget (`epochs` overrides max_epochs)."""
        max_epochs = epochs if epochs is not None else self.max_epochs
        changes: dict = {"epochs": min(config.epochs, max_epochs) if epochs is None else max_epochs}
        if self.patience is not None:
            changes["patience"] = min(config.patience, self.patience)
        if not self.imagenet_weights and config.model_kwargs.get("weights") == "imagenet":
            changes["model_kwargs"] = {**config.model_kwargs, "weights": None}
        return config.replace(**changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="a few hundred images, 1 epoch, random-init transfer bases: every notebook in minutes on 2 cores",
        train_limit=600,
        test_limit=300,
        max_epochs=1,
        patience=1,
        imagenet_weights=False,
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
        description="the seed's protocol: early stopping with patience 20/50, up to 200 epochs (for a GPU)",
        train_limit=None,
        test_limit=None,
        max_epochs=200,
        patience=None,
        imagenet_weights=True,
    ),
}


def get_profile(name: str) -> Profile:
    """Look a profile up by name, with an error that lists the valid ones.

    "auto" picks the seed's full protocol when the backend sees a GPU, else the laptop-sized quick one.
    """
    if name == "auto":
        from .runtime import accelerator

        return PROFILES["full" if accelerator() else "quick"]
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}: choose one of auto, {', '.join(PROFILES)}") from None
