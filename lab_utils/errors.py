"""The one exception family of lab_utils: every message names the problem and the fix."""

from __future__ import annotations


class LabError(Exception):
    """Base class for every error lab_utils raises on bad input or a missing resource."""


class DatasetError(LabError):
    """A dataset is unknown, missing, truncated or corrupt."""


class WeightsError(LabError):
    """Pretrained weights are missing (offline) or unreadable."""


class ConfigError(LabError):
    """A run configuration or parameter is invalid."""
