"""Starting settings per dataset: the lessons' choices, so the Train form and the CLI open on something that works.

The presets themselves live in the dataset registry (registry.py); every value is a RunConfig field (flat name).
"""

from __future__ import annotations

from dcgan.config import RunConfig, apply_overrides
from dcgan.data.registry import REGISTRY
from dcgan.errors import ConfigError

DATASET_PRESETS: dict[str, dict] = {name: info.preset for name, info in REGISTRY.items()}


def preset_config(dataset: str, **overrides) -> RunConfig:
    """A RunConfig holding the dataset's preset, then `overrides` (flat field names) on top."""
    if dataset not in DATASET_PRESETS:
        raise ConfigError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASET_PRESETS)}")
    return apply_overrides(RunConfig(), {"dataset": dataset, **DATASET_PRESETS[dataset], **overrides})
