"""RunConfig: validation, round-trip, and a cache key that changes exactly when training would."""

from __future__ import annotations

import pytest

from lab_utils.errors import ConfigError
from lab_utils.training.config import RunConfig
from lab_utils.training.profiles import PROFILES

BASE = RunConfig(experiment="cnn", dataset="mnist", architecture="simple_cnn", model_kwargs={"dropout": 0.5})


def test_seed_learning_rates_are_the_defaults() -> None:
    assert BASE.resolved_learning_rate == 0.01
    assert BASE.replace(optimizer="adam").resolved_learning_rate == 1e-4
    assert BASE.replace(learning_rate=0.1).resolved_learning_rate == 0.1


def test_round_trip_through_dict() -> None:
    assert RunConfig.from_dict(BASE.to_dict()) == BASE


def test_cache_key_depends_on_every_hyper_parameter_and_the_data() -> None:
    key = BASE.cache_key("data-a")
    assert key == RunConfig.from_dict(BASE.to_dict()).cache_key("data-a")
    assert key != BASE.cache_key("data-b")
    for change in (
        {"batch_size": 32},
        {"seed": 1},
        {"patience": 5},
        {"model_kwargs": {"dropout": 0.4}},
        {"optimizer": "adam"},
        {"epochs": 3},
    ):
        assert BASE.replace(**change).cache_key("data-a") != key, change


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"optimizer": "rmsprop"}, "optimizer 'rmsprop'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"epochs": 2.5}, "epochs=2.5"),
        ({"monitor": "loss"}, "monitor 'loss'"),
        ({"learning_rate": -1.0}, "learning_rate=-1.0"),
        ({"experiment": "a b"}, "experiment 'a b'"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BASE.replace(**change)


def test_unknown_fields_in_a_saved_config_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown RunConfig fields"):
        RunConfig.from_dict({**BASE.to_dict(), "lr": 0.1})


@pytest.mark.parametrize("profile", sorted(set(PROFILES) - {"smoke"}))
@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_every_profile_but_smoke_tests_on_the_whole_test_set(profile: str, dataset: str) -> None:
    assert PROFILES[profile].limits(dataset)[1] is None


def test_smoke_keeps_a_small_test_set() -> None:
    assert PROFILES["smoke"].limits("cifar10")[1] == 300


def test_seeds_default_to_one_on_a_cpu_profile_and_five_under_full(tmp_path) -> None:
    from lab_utils.lab import Lab

    assert {name: p.seeds for name, p in PROFILES.items()} == {"smoke": 1, "lesson": 1, "quick": 1, "full": 5}
    assert Lab("full", runs_dir=tmp_path, verbose=0).seeds == [0, 1, 2, 3, 4]  # the profile's, when none is named
    assert Lab("full", runs_dir=tmp_path, seed=5, seeds=1, verbose=0).seeds == [5]  # a named count wins
    with pytest.raises(ConfigError, match="seeds=0 must be a positive whole number"):
        Lab("smoke", runs_dir=tmp_path, seeds=0, verbose=0)
