"""Latent space tools for a trained generator: interpolation, arithmetic, principal directions, export.

Everything runs the generator in eval mode (running batch-norm statistics), so one z always gives the same
image whatever else is in the batch. Nothing here knows about Streamlit; pages/latent.py is a view over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dcgan.models import Generator, seeded_z


@dataclass
class ExplorerConfig:
    pca_samples: int = 4096  # z drawn to find the principal directions (GANSpace)
    pca_components: int = 8  # directions offered as sliders
    slider_range: float = 3.0  # sliders move each coordinate or direction in [-range, range]
    bn_check_samples: int = 128  # z used to compare eval-mode and training-mode images at load time
    bn_mismatch_threshold: float = (
        0.1  # mean |eval - train| pixel difference (range [-1, 1]) that triggers recalibration
    )
    bn_calibration_samples: int = 8192  # z used to recompute the running batch-norm statistics
    batch: int = 512  # generator batch for the above (bounds memory)


# -- generating (z from a seed: dcgan.models.seeded_z) -------------------------------------------------
@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] for z (B, z_dim), in eval mode."""
    G.eval()
    device = next(G.parameters()).device
    return G(z.to(device)).float().cpu()


# -- interpolation ------------------------------------------------------------------------------------
def _fractions(t) -> torch.Tensor:
    return torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)  # (T, 1)


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Straight-line points (T, z_dim) between a and b at fractions t."""
    t = _fractions(t)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation (White 2016): follows the great circle, so the points keep the norm that
    Gaussian latents concentrate at, where a straight line would pass through the unlikely middle."""
    t = _fractions(t)
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < eps:  # (almost) the same direction: the arc is a line
        return lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


INTERPOLATIONS = {"slerp": slerp, "lerp": lerp}


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """`steps` points (steps, z_dim) from a to b inclusive."""
    return INTERPOLATIONS[mode](a, b, torch.linspace(0, 1, steps))


def keyframe_walk(keys: torch.Tensor, steps_per_segment: int, mode: str = "slerp", loop: bool = True) -> torch.Tensor:
    """A walk through keyframes (K, z_dim): each segment's start, never its end (the next segment's start);
    with `loop` it comes back to the first key, so the animation repeats seamlessly."""
    ends = torch.cat([keys[1:], keys[:1]]) if loop else keys[1:]
    fractions = torch.arange(steps_per_segment) / steps_per_segment
    path = [INTERPOLATIONS[mode](a, b, fractions) for a, b in zip(keys, ends)]
    return torch.cat(path if loop else path + [keys[-1:]])


def interpolation_grid(z_dim: int, rows: int, steps: int, seed: int, mode: str = "slerp") -> torch.Tensor:
    """(rows * steps, z_dim): each row a walk between a random pair, as in the DCGAN paper's figure 4."""
    ends = seeded_z(seed, 2 * rows, z_dim)
    return torch.cat([interpolate(ends[2 * r], ends[2 * r + 1], steps, mode) for r in range(rows)])


# -- arithmetic -----------------------------------------------------------------------------------------
def concept_arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """mean(A) - mean(B) + mean(C) of the chosen samples' z (each (n, z_dim)), as in the paper's figure 7:
    averaging a few z per concept gives a stabler concept vector than any single sample."""
    return a.mean(0) - b.mean(0) + c.mean(0)


def neighbours(z: torch.Tensor, count: int, noise_std: float = 0.25, seed: int = 0) -> torch.Tensor:
    """(count, z_dim): z itself first, then z plus small Gaussian noise, to show the result is no accident."""
    noise = seeded_z(seed, count - 1, z.numel()) * noise_std
    return torch.cat([z.reshape(1, -1), z.reshape(1, -1) + noise])


# -- principal directions (GANSpace) ------------------------------------------------------------------
@dataclass
class PrincipalDirections:
    directions: torch.Tensor  # (k, z_dim), orthonormal rows, most important first
    variance: torch.Tensor  # (k,) fraction of the first layer's variance each component explains


@torch.no_grad()
def principal_directions(G: Generator, cfg: ExplorerConfig | None = None, seed: int = 0) -> PrincipalDirections:
    """Härkönen et al. 2020: PCA of the first layer's activations over many z, carried back to z-space by
    least squares (z ~ coords @ U), then orthonormalised in order so each slider moves an independent way."""
    cfg = cfg or ExplorerConfig()
    G.eval()
    device = next(G.parameters()).device
    z = seeded_z(seed, cfg.pca_samples, G.cfg.z_dim)
    feats = torch.cat([G.first_layer(chunk.to(device)).flatten(1).float().cpu() for chunk in z.split(cfg.batch)])
    feats = feats - feats.mean(0)
    k = min(cfg.pca_components, G.cfg.z_dim, feats.shape[1])
    # Randomised PCA of the top k only: a full SVD of (4096, 8192) features takes a minute on 2 cores.
    _, singular, components = torch.pca_lowrank(feats, q=k + 8, center=False, niter=4)  # components (F, k+8)
    coords = feats @ components[:, :k]  # (N, k)
    solution = torch.linalg.lstsq(coords, z - z.mean(0)).solution  # (k, z_dim): coord -> z
    q, r = torch.linalg.qr(solution.T)  # Gram-Schmidt, in order
    directions = (q * torch.sign(torch.diagonal(r))).T  # keep each one's orientation
    variance = singular[:k] ** 2 / feats.square().sum()
    return PrincipalDirections(directions.contiguous(), variance)


# -- batch norm in eval mode --------------------------------------------------------------------------
@torch.no_grad()
def batchnorm_mismatch(G: Generator, cfg: ExplorerConfig | None = None, seed: int = 1) -> float:
    """Mean |eval-mode image - training-mode image| over a batch: large when the running statistics saved
    with the generator do not describe what its layers see (e.g. a short run, or a high momentum).
    Leaves G in eval mode with its statistics unchanged."""
    cfg = cfg or ExplorerConfig()
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules()):
        return 0.0
    z = seeded_z(seed, cfg.bn_check_samples, G.cfg.z_dim)
    device = next(G.parameters()).device
    saved = {k: v.clone() for k, v in G.state_dict().items()}
    G.train()
    train_images = G(z.to(device)).float().cpu()
    G.load_state_dict(saved)  # a training-mode pass moves the running statistics, even under no_grad: undo it
    G.eval()
    eval_images = G(z.to(device)).float().cpu()
    return (train_images - eval_images).abs().mean().item()


@torch.no_grad()
def recalibrate_batchnorm(G: Generator, cfg: ExplorerConfig | None = None, seed: int = 2) -> None:
    """Recompute every batch norm's running mean and variance as the average over many z (momentum None
    makes PyTorch keep a cumulative average), then leave G in eval mode."""
    cfg = cfg or ExplorerConfig()
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    device = next(G.parameters()).device
    for chunk in seeded_z(seed, cfg.bn_calibration_samples, G.cfg.z_dim).split(cfg.batch):
        G(chunk.to(device))
    for m in norms:
        m.momentum = 0.1
    G.eval()


def prepare_for_exploring(G: Generator, cfg: ExplorerConfig | None = None) -> str | None:
    """Make eval mode trustworthy; returns a sentence for the user when the statistics were recomputed."""
    cfg = cfg or ExplorerConfig()
    mismatch = batchnorm_mismatch(G, cfg)
    if mismatch <= cfg.bn_mismatch_threshold:
        return None
    recalibrate_batchnorm(G, cfg)
    return (
        f"This generator's images in eval mode differed from its training-mode images by {mismatch:.2f} "
        f"on average, so its batch-norm statistics were recomputed over {cfg.bn_calibration_samples:,} z."
    )
