"""What a run comparison tells apart: the settings in which the chosen runs differ (config.json, flattened to
`train.lr`-style names), and each run's final and best sample-quality score (quality.jsonl).

The Fréchet distance is the score compared (lower is better); coverage (higher is better) tells a collapsed
generator from a merely blurry one. A score whose classifier cannot be trusted keeps the reason
(quality/score.py's reliability_note), and scores made in different classifiers' features are not comparable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dcgan.errors import RunDamaged
from dcgan.runs.directory import RunDirectory

# Differ between any two runs and say nothing about how they trained: the table's columns are already the names.
NOT_SETTINGS = ("name", "created")
MISSING = "—"  # a setting one run's config.json does not have (an older version wrote it)


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """{'train': {'lr': 2e-4}} -> {'train.lr': 2e-4}; lists and other values are kept as they are."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_flat_config(run: RunDirectory) -> tuple[dict[str, object], str | None]:
    """(the run's flattened config.json, None) or ({}, why it cannot be read)."""
    try:
        return flatten(run.read_config()), None
    except FileNotFoundError:
        return {}, f"{run.name} has no config.json"
    except RunDamaged as err:
        return {}, str(err)


def settings_that_differ(configs: dict[str, dict[str, object]]) -> list[tuple[str, dict[str, object]]]:
    """[(setting, {run: value})] for every flattened setting whose value is not the same in all the runs, in
    config.json's order (model, data, train...). A setting absent from one run shows as MISSING there."""
    order: dict[str, None] = {}
    for flat in configs.values():
        order.update(dict.fromkeys(flat))
    rows = []
    for setting in order:
        if setting in NOT_SETTINGS:
            continue
        values = {run: flat.get(setting, MISSING) for run, flat in configs.items()}
        if len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
            rows.append((setting, values))
    return rows


@dataclass(frozen=True)
class ScoreSummary:
    final: dict  # the newest quality line
    best: dict  # the line with the lowest Fréchet distance (the earliest of equals)
    scores: int  # how many lines
    unreliable: str | None  # why the final score cannot be trusted (reliability_note), None when it can
    feature_space: str | None  # whose features scored it: distances in different spaces are not comparable


def summarize_scores(records: list[dict]) -> ScoreSummary | None:
    """The final and the best of a run's quality lines (oldest first, as RunDirectory.read_quality gives them),
    or None when it has none."""
    from dcgan.quality.score import reliability_note

    if not records:
        return None
    ordered = sorted(records, key=lambda r: r["step"])
    final = ordered[-1]
    best = min(ordered, key=lambda r: r["frechet"])  # min keeps the first of equals: the earliest
    return ScoreSummary(final, best, len(ordered), reliability_note(final), final.get("feature_space"))


def incomparable_spaces(summaries: dict[str, ScoreSummary | None]) -> list[str]:
    """The distinct feature spaces the runs were scored in, when there is more than one (else [])."""
    spaces = sorted({str(s.feature_space) for s in summaries.values() if s is not None})
    return spaces if len(spaces) > 1 else []


def shown_value(value: object) -> str:
    """A setting as the table shows it: numbers without noise (0.0002, 2e-05), booleans as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if value == "":
        return '""'
    return str(value)
