"""Several seeds of one network: their mean and spread, for the lab's bands and error bars.

A pair or a table row trained with k seeds (LabConfig.seeds) gives k results per network; these reduce them.
A diverged network's accuracy counts (it is what that seed got); a missing one (None, NaN) does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dcgan.bnlab.experiment import NetworkResult


@dataclass
class Spread:
    mean: float
    low: float  # the smallest of the seeds
    high: float  # the largest
    count: int  # seeds that had a number


def spread(values: Sequence[float | None]) -> Spread | None:
    """Mean, min and max of the finite values; None when there are none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return Spread(sum(finite) / len(finite), min(finite), max(finite), len(finite))


def by_row(results: list, seeds: int) -> list[list]:
    """A flat list, row i's seed j at i * seeds + j, as rows of `seeds` entries."""
    return [results[i : i + seeds] for i in range(0, len(results), seeds)]


def test_spread(results: list[NetworkResult]) -> Spread | None:
    return spread([r.test_accuracy for r in results])


def curve_spread(results: list[NetworkResult], curve: str = "validation") -> list[tuple[int, Spread]]:
    """Per iteration that every seed recorded, the spread of `curve` ("validation" accuracy or training "loss")."""
    points: dict[int, list[float]] = {}
    for r in results:
        for i, v in getattr(r, curve):
            points.setdefault(i, []).append(v)
    out = []
    for i in sorted(points):
        s = spread(points[i]) if len(points[i]) == len(results) else None
        if s is not None:
            out.append((i, s))
    return out
