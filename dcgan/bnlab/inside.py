"""Inside the lab's networks as they train: per layer, what the lesson only asserts about batch norm.

Every `every` iterations the training step hands a Probe the tensors its hand-written forward and backward
already hold (no extra forward pass): each hidden layer's pre-activation (the activation's input: batch
norm's output with it, z + bias without) and activation, and each weight matrix's SGD update. From them, per
network and layer:

  pre / act quantiles   5, 25, 50, 75 and 95% of the batch's values over every unit (QUANTILES)
  pre / act histograms  HISTOGRAM_BINS counts between the batch's min and max, for the iteration slider
  saturated             the share of units stuck: sigmoid below 0.03 or above 0.97 and |tanh| above 0.97
                        (each value of the batch counts; the slope there is under 3%, resp. 6%, of its
                        largest), ReLU units zero for the whole batch (dead), leaky ReLU units negative for
                        the whole batch (only the 0.2 slope left)
  grad norm             ||dLoss/dW||_F of the weight matrix (hidden layers and the output layer)
  gradient let through  ||dLoss/d pre-activation|| / ||dLoss/d activation||: how much of the gradient reaching
                        a hidden layer its activation passes on (sigmoid at most 0.25, ~0 when saturated)
  update ratio          ||lr * dLoss/dW||_F / ||W||_F before the step: ~1e-3 is the usual healthy size

Nothing here knows of Streamlit or of the stacking's layout beyond (P, B, n) tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 30
SATURATED_NEAR = 0.03  # sigmoid within this of 0 or 1, tanh within this of -1 or 1
# A record costs ~3 ms for a pair on a 2-core CPU (a sort per layer, quantiles, histograms, norms; the step then
# computes its updates apart): once every 50 iterations keeps a pair within 10% of its time without; every 25 cost
# 1.14-1.20x (benchmarks/bn_inside_cost.py).
DEFAULT_EVERY = 50
SATURATION_MEANING = {
    "sigmoid": "share of values below 0.03 or above 0.97",
    "tanh": "share of values with |tanh| above 0.97",
    "relu": "share of dead units (zero for the whole batch)",
    "leaky_relu": "share of units negative for the whole batch",
}


@dataclass
class InsideTrace:
    """One network's recorded iterations. Lists are [record][layer]: hidden layers for the quantiles,
    histograms and saturation; every weight matrix (hidden ones, then the output layer) for the gradients.
    A value that was not finite (a diverged network) is NaN."""

    iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # the training batch's cross-entropy at that iteration
    pre_quantiles: list[list[list[float]]] = field(default_factory=list)  # [record][layer][QUANTILES]
    act_quantiles: list[list[list[float]]] = field(default_factory=list)
    pre_histograms: list[list[tuple[float, float, list[int]]]] = field(default_factory=list)  # (low, high, counts)
    act_histograms: list[list[tuple[float, float, list[int]]]] = field(default_factory=list)
    saturated: list[list[float]] = field(default_factory=list)  # [record][layer], 0 to 1
    grad_norm: list[list[float]] = field(default_factory=list)  # [record][weight matrix]
    grad_passed: list[list[float]] = field(default_factory=list)  # [record][hidden layer]
    update_ratio: list[list[float]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {name: _to_json(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, d: dict) -> InsideTrace:
        one = lambda lo, hi, counts: (_from_json(lo), _from_json(hi), [int(c) for c in counts])
        hist = lambda records: [[one(*h) for h in r] for r in records]
        return cls(
            iterations=[int(i) for i in d["iterations"]],
            loss=_from_json(d["loss"]),
            pre_quantiles=_from_json(d["pre_quantiles"]),
            act_quantiles=_from_json(d["act_quantiles"]),
            pre_histograms=hist(d["pre_histograms"]),
            act_histograms=hist(d["act_histograms"]),
            saturated=_from_json(d["saturated"]),
            grad_norm=_from_json(d["grad_norm"]),
            grad_passed=_from_json(d["grad_passed"]),
            update_ratio=_from_json(d["update_ratio"]),
        )


def _to_json(value: Any) -> Any:
    """Nested lists of numbers with NaN and infinities as null: JSON has none."""
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value if math.isfinite(value) else None


def _from_json(value: Any) -> Any:
    """_to_json's lists back, null as NaN; anything but lists and numbers is a ValueError or TypeError."""
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return float("nan") if value is None else float(value)


class Probe:
    """Collects one training step's tensors for all P networks of a stack; `traces` turns them into numbers.
    The training step calls `hidden` per hidden layer (forward) and `update` per weight matrix (backward)."""

    def __init__(self, activations: list[str]):
        self.activations = activations  # one per network of the stack
        self.pre: list[torch.Tensor] = []  # per hidden layer, (P, B, n)
        self.act: list[torch.Tensor] = []
        self.update_norms: dict[int, torch.Tensor] = {}  # weight matrix -> (P,) ||update||
        self.weight_norms: dict[int, torch.Tensor] = {}  # weight matrix -> (P,) ||W|| before the update
        self.passed_share: dict[int, torch.Tensor] = {}  # hidden layer -> (P,) gradient let through

    def hidden(self, pre: torch.Tensor, act: torch.Tensor) -> None:
        self.pre.append(pre)
        self.act.append(act)

    def passed(self, layer: int, share: torch.Tensor) -> None:
        self.passed_share[layer] = share

    def update(self, layer: int, update_norm: torch.Tensor, weights_norm: torch.Tensor) -> None:
        self.update_norms[layer], self.weight_norms[layer] = update_norm, weights_norm

    @torch.no_grad()
    def record(
        self, traces: list[InsideTrace | None], iteration: int, step: torch.Tensor, losses: torch.Tensor
    ) -> None:
        """Append this step's numbers to traces[p] for every network p (None: p does not record now); `step`
        (P,) is the learning rate used (0: a network that did not move, whose gradient is then unknown)."""
        layers = sorted(self.update_norms)
        pre, act = [], []
        for t in self.pre:
            values, count = sorted_finite(t)
            pre.append(summary(values, count))
            # Every activation here is monotone: the activations in order are the activation of the
            # pre-activations in order, so one sort serves both.
            act.append(summary(_activate(values, self.activations), count))
        saturated = [saturation(t, self.activations) for t in self.act]  # each (P,)
        updates = torch.stack([self.update_norms[i] for i in layers], 1)  # (P, matrices)
        weights = torch.stack([self.weight_norms[i] for i in layers], 1)
        moved = step.view(-1, 1)
        grad_norm = torch.where(moved > 0, updates / moved, float("nan"))
        ratio = torch.where(moved > 0, updates / weights, float("nan"))
        stats = [
            torch.stack([q for q, _ in pre], 1).tolist(),  # (P, layers, 5)
            torch.stack([q for q, _ in act], 1).tolist(),
            torch.stack(saturated, 1).tolist(),
            grad_norm.tolist(),
            ratio.tolist(),
            losses.tolist(),
            torch.stack([self.passed_share[i] for i in sorted(self.passed_share)], 1).tolist(),
        ]
        for p, trace in enumerate(traces):
            if trace is None:
                continue
            trace.iterations.append(iteration)
            trace.pre_quantiles.append(stats[0][p])
            trace.act_quantiles.append(stats[1][p])
            trace.saturated.append(stats[2][p])
            trace.grad_norm.append(stats[3][p])
            trace.update_ratio.append(stats[4][p])
            trace.loss.append(stats[5][p])
            trace.grad_passed.append(stats[6][p])
            trace.pre_histograms.append([h[p] for _, h in pre])
            trace.act_histograms.append([h[p] for _, h in act])


def _activate(values: torch.Tensor, activations: list[str]) -> torch.Tensor:
    from dcgan.bnlab.networks import ACTIVATIONS  # networks imports this module

    out = values.clone()
    for p, name in enumerate(activations):
        ACTIVATIONS[name].apply_(out[p])
    return out


def sorted_finite(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, B, n) -> ((P, B * n) each network's values in order, NaN for the non-finite ones at the end; (P, 1)
    how many are finite). On a CPU numpy sorts: torch.sort took 0.7 ms for two networks' 6,000 values, numpy 0.2."""
    flat = t.flatten(1).float()
    finite = torch.isfinite(flat)
    values = torch.where(finite, flat, float("nan"))
    if values.device.type == "cpu":
        values = torch.from_numpy(np.sort(values.numpy(), axis=1))  # NaN last, as torch's
    else:
        values = values.sort(1).values
    return values, finite.sum(1, keepdim=True)


def summary(values: torch.Tensor, count: torch.Tensor, bins: int = HISTOGRAM_BINS):
    """sorted_finite's output -> ((P, len(QUANTILES)) quantiles, per network (low, high, counts)): the quantiles
    interpolate linearly between neighbours (as torch.quantile does), the histogram has `bins` equal bins
    from the smallest value to the largest (the largest in the last, as torch.histc)."""
    last = (count - 1).clamp_min(0)
    position = torch.tensor(QUANTILES, device=values.device).view(1, -1) * last  # (P, 5)
    below, above = position.floor().long(), position.ceil().long()
    quantiles = torch.lerp(values.gather(1, below), values.gather(1, above), position - below)
    low, high = values[:, :1], values.gather(1, last)
    low, high = torch.where(count > 0, low, 0.0), torch.where(count > 0, high, 0.0)
    edges = torch.lerp(low, high, torch.arange(1, bins, device=values.device).view(1, -1) / bins)  # inner edges
    searchable = values.nan_to_num(nan=math.inf)  # a binary search needs NaN out of the way
    inner = torch.searchsorted(searchable, edges.contiguous()).minimum(count)  # values below each inner edge
    counts = torch.cat([torch.zeros_like(count), inner, count], 1).diff(dim=1)
    histogram = list(zip(low.flatten().tolist(), high.flatten().tolist(), counts.tolist()))
    return quantiles, histogram


def distribution(t: torch.Tensor, bins: int = HISTOGRAM_BINS):
    """(P, B, n) -> summary of each network's finite values."""
    return summary(*sorted_finite(t), bins=bins)


def saturation(act: torch.Tensor, activations: list[str]) -> torch.Tensor:
    """(P, B, n) activations -> (P,) share of saturated (sigmoid, tanh) or dead (ReLU) units, as defined above;
    one computation per run of neighbouring networks with the same activation."""
    out = torch.empty(len(act), device=act.device)
    start = 0
    while start < len(activations):
        name, stop = activations[start], start + 1
        while stop < len(activations) and activations[stop] == name:
            stop += 1
        h = act[start:stop]  # (networks, B, n)
        if name == "sigmoid":
            stuck = (h - 0.5).abs_() > 0.5 - SATURATED_NEAR
        elif name == "tanh":
            stuck = h.abs() > 1 - SATURATED_NEAR
        else:  # ReLU: zero for the whole batch (dead); leaky ReLU: negative for the whole batch
            stuck = (h <= 0).all(1) if name == "relu" else (h < 0).all(1)
        out[start:stop] = stuck.flatten(1).float().mean(1)
        start = stop
    return out
