"""Exact t-SNE in plain torch, for the explorer's map of a few thousand points.

L.J.P. van der Maaten and G.E. Hinton, "Visualizing Data using t-SNE", JMLR 9 (2008) 2579-2605. Followed here
as in van der Maaten's reference tsne.py: Gaussian affinities whose bandwidth each point finds by a binary search
for the perplexity, made symmetric; a Student-t kernel in the plane; gradient descent with momentum and the
per-coordinate gains of Jacobs (1988); P exaggerated early on. From scikit-learn's TSNE: exaggeration 12, the
learning rate max(N / 12 / 4, 50) (Belkina et al. 2019), and a PCA start rescaled to a standard deviation of
1e-4, which makes the result the same on every run without a seed.

400 steps, 200 of them exaggerated (scikit-learn: 1,000 and 250), to draw a 2,000-sample map in seconds: on the
shipped 32 px generator's samples they end at KL(P || Q) = 1.15 against 1.04 after 1,000 steps, with the same
share of neighbourhoods of one class (81% against 80%, neighbour_agreement), in 40% of the time.

Exact: every pair's force is computed (O(N^2) per step), no Barnes-Hut tree. For 2-3 thousand points that is a
few tens of millions of multiply-adds a step, done in row blocks that stay in the CPU's cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

SMALLEST_EXPONENT = -80.0  # exp(-80) ~ 2e-35: the affinities' smallest term (see conditional_affinities)
INITS = ("pca", "random")
BLOCK_ELEMENTS = 1 << 18  # a block of the N x N kernel this big (1 MB in float32) stays in cache while it is used


@dataclass
class TsneConfig:
    perplexity: float = 30.0  # the effective number of neighbours each point keeps (usual 5-50)
    pca_dims: int = 50  # the input is first reduced to this many principal components (van der Maaten: 50)
    iterations: int = 400  # gradient steps in all (see the module's docstring)
    exaggeration: float = 12.0  # P is multiplied by this during the first steps, so clusters form first
    exaggeration_iterations: int = 200  # how many of the steps are exaggerated
    momentum: float = 0.5  # during the exaggerated steps
    final_momentum: float = 0.8  # after them
    learning_rate: float | None = None  # step size; None: max(N / exaggeration / 4, 50)
    min_gain: float = 0.01  # the per-coordinate step gains never fall below this
    perplexity_tolerance: float = 1e-5  # the binary search stops when each row's entropy is this close (nats)
    perplexity_steps: int = 100  # at most this many bisection steps
    init: str = "pca"  # "pca": the first two principal components (deterministic); "random": drawn from seed
    seed: int = 0  # the random start's seed (unused with init="pca")
    report_every: int = 10  # progress is called after this many steps
    threads: int | None = 1  # CPU threads while it runs (None: torch's setting); see torch_threads


def principal_components(x: torch.Tensor, dims: int) -> torch.Tensor:
    """x (N, F) centred and projected on its first `dims` principal axes: (N, min(dims, N, F))."""
    centred = x.double() - x.double().mean(0)
    dims = min(dims, *centred.shape)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # exact and deterministic; (N, F) is small here
    signs = torch.sign(v[:dims].sum(1, keepdim=True)).clamp_min(0) * 2 - 1  # fix each axis's sign: same every run
    return (centred @ (v[:dims] * signs).T).float()


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """(N, N) squared Euclidean distances, exact zeros on the diagonal."""
    x = x.double()
    sq = x.square().sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0)
    d.fill_diagonal_(0)
    return d


def conditional_affinities(d: torch.Tensor, perplexity: float, tolerance: float = 1e-5, steps: int = 100):
    """Row-stochastic P (N, N), P[i, j] = p(j | i) ∝ exp(-beta_i d[i, j]) (0 on the diagonal), each row's beta_i
    found by one binary search run on all rows at once so that the row's entropy is log(perplexity) nats.
    Returns (P, each row's entropy)."""
    target = math.log(perplexity)
    # Shifting a row by its nearest distance changes no p(j|i) but keeps exp() from underflowing to 0 (the nearest
    # neighbour's term is exp(0) = 1). The diagonal is set to 0 too: its exp(0) = 1 is taken off each row's sum.
    masked = d.float().clone().fill_diagonal_(math.inf)
    shifted = (masked - masked.min(1, keepdim=True).values).fill_diagonal_(0)
    beta = 1 / shifted.mean(1, keepdim=True).clamp_min(1e-12)  # (N, 1) a start of the distances' own scale
    low = torch.zeros_like(beta)
    high = torch.full_like(beta, math.inf)

    p = torch.empty_like(shifted)

    def row_entropy(beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # In place (no 16 MB temporaries); exponents below -80 are held there: exp() of numbers that small gives
        # subnormal floats, 10x slower to compute, and p(j|i) changes by under 1e-34.
        torch.mul(shifted, -beta, out=p).clamp_(min=SMALLEST_EXPONENT).exp_()  # (N, N), 1 on the diagonal
        total = p.sum(1, keepdim=True) - 1
        mean_d = torch.linalg.vecdot(shifted, p).unsqueeze(1) / total  # each row's E[d]
        return p, total, total.log() + beta * mean_d  # H = log S + beta E[d]

    for _ in range(steps):
        p, total, entropy = row_entropy(beta)
        error = entropy - target
        if error.abs().max() < tolerance:
            break
        too_flat = error > 0  # entropy too high: the Gaussian is too wide, beta must grow
        low = torch.where(too_flat, beta, low)
        high = torch.where(too_flat, high, beta)
        beta = torch.where(high.isinf(), beta * 2, (low + high) / 2)
    else:
        p, total, entropy = row_entropy(beta)
    return p.fill_diagonal_(0) / total, entropy.squeeze(1)


def joint_affinities(x: torch.Tensor, cfg: TsneConfig) -> torch.Tensor:
    """Symmetric P (N, N) summing to 1: (p(j|i) + p(i|j)) / 2N, from x's first cfg.pca_dims components."""
    reduced = principal_components(x, cfg.pca_dims)  # (N, D): noise in the last dimensions does not blur P
    perplexity = min(cfg.perplexity, (len(x) - 1) / 3)  # a tiny set cannot keep 30 neighbours
    p, _ = conditional_affinities(
        squared_distances(reduced), perplexity, cfg.perplexity_tolerance, cfg.perplexity_steps
    )
    p = (p + p.T) / (2 * len(p))
    return p.clamp_min(1e-12)


def kl_gradient(y: torch.Tensor, p: torch.Tensor, exaggeration: float = 1.0) -> torch.Tensor:
    """dKL(P || Q)/dy (N, 2): 4 sum_j (e p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j), all pairs, in row blocks.

    With w_ij = (1 + d_ij)^-1 and Z = sum w: the attraction is sum_j p_ij w_ij (y_i - y_j) and the repulsion
    sum_j w_ij^2 (y_i - y_j) / Z; both are (row sum) y_i - (row @ y), done as one product with [y | 1]."""
    n = len(y)
    sq = y.square().sum(1, keepdim=True)
    ones = torch.ones(n, 1)
    left = torch.cat([-2 * y, sq, ones], 1)  # (N, 4): left_i . right_j = |y_i - y_j|^2 + 1
    right = torch.cat([y, ones, sq + 1], 1)
    y1_t = torch.cat([y, ones], 1).T.contiguous()  # (3, N); (3, N) @ (N, B) is 3x faster than (B, N) @ (N, 3)
    attraction = torch.empty(n, 3)
    repulsion = torch.empty(n, 3)
    z = torch.zeros(())
    rows = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        w = (left[start:stop] @ right.T).reciprocal_()  # (B, N) Student-t kernel
        w[:, start:stop].fill_diagonal_(0)
        z += w.sum()
        attraction[start:stop] = (y1_t @ (p[start:stop] * w).T).T
        repulsion[start:stop] = (y1_t @ w.square_().T).T
    # row sum * y_i - sum_j (.) y_j, for each of the two forces
    pull = attraction[:, 2:] * y - attraction[:, :2]
    push = repulsion[:, 2:] * y - repulsion[:, :2]
    return 4 * (exaggeration * pull - push / z)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's CPU threads set to `count` inside, restored after. t-SNE runs on one by default: its blocks are
    small, and on the busy 2-core machine it was written on two threads ran a 300-step embedding of 2,000 points
    8x slower than one (21 s against 2.6 s), losing their time handing each block over."""
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tsne(
    x: torch.Tensor, cfg: TsneConfig | None = None, progress: Callable[[int, int], None] | None = None
) -> torch.Tensor:
    """A 2-D embedding (N, 2) of x (N, F). `progress(step, cfg.iterations)`: with step 0 once the affinities
    are found, then every cfg.report_every steps."""
    cfg = cfg or TsneConfig()
    if cfg.init not in INITS:
        raise ValueError(f"unknown t-SNE start {cfg.init!r}: use one of {', '.join(INITS)}")
    with torch_threads(cfg.threads):
        return _embed(x.float().cpu(), cfg, progress)


def _embed(x: torch.Tensor, cfg: TsneConfig, progress: Callable[[int, int], None] | None) -> torch.Tensor:
    n = len(x)
    if not torch.isfinite(x).all():
        raise ValueError("t-SNE was given values that are not finite numbers (a generator whose outputs are NaN?)")
    if n < 3 or not (x - x[0]).abs().max() > 0:
        return torch.zeros(n, 2)  # nothing to arrange (too few points, or all the same, e.g. truncated at ψ = 0)
    p = joint_affinities(x, cfg)
    if progress:
        progress(0, cfg.iterations)
    if cfg.init == "pca":
        y = torch.nn.functional.pad(principal_components(x, 2), (0, 2))[:, :2]  # (N, 2) even from 1-D data
    else:
        y = torch.randn(n, 2, generator=torch.Generator().manual_seed(cfg.seed))
    y = y / y[:, 0].std().clamp_min(1e-12) * 1e-4  # a tiny start: the early steps arrange, not undo, it
    rate = cfg.learning_rate or max(n / cfg.exaggeration / 4, 50.0)
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for step in range(cfg.iterations):
        early = step < cfg.exaggeration_iterations
        gradient = kl_gradient(y, p, cfg.exaggeration if early else 1.0)
        # Gains grow where the step (-gradient) keeps the way the point already moves, shrink where it turns.
        same_way = (gradient > 0) != (velocity > 0)
        gains = torch.where(same_way, gains + 0.2, gains * 0.8).clamp_min(cfg.min_gain)
        velocity = (cfg.momentum if early else cfg.final_momentum) * velocity - rate * gains * gradient
        y = y + velocity
        y = y - y.mean(0)
        if progress and ((step + 1) % cfg.report_every == 0 or step + 1 == cfg.iterations):
            progress(step + 1, cfg.iterations)
    return y


def neighbour_agreement(coords: torch.Tensor, labels: torch.Tensor, k: int = 10) -> float:
    """The share of points most of whose k nearest neighbours on the map (more than half) carry the point's own
    label: 1.0 when every neighbourhood is of one label; near 0 for 10 balanced labels placed at random."""
    n = len(coords)
    if n <= k:
        return float("nan")
    d = squared_distances(coords)
    d.fill_diagonal_(math.inf)
    nearest = d.topk(k, largest=False).indices  # (N, k)
    same = (labels[nearest] == labels[:, None]).sum(1)
    return (same > k / 2).float().mean().item()
