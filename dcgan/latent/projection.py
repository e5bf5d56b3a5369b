"""Projection: find the z whose image is closest to a given picture, so the explorer can then move it.

Gradient descent on z (several starts at once, the best kept) against the pixel distance and, when the
run's discriminator is available, the distance between D's features of the two images, which rewards
matching shapes over matching exact pixels. Without D (shipped generators carry only G), the pixel
distance is taken at three scales instead, so coarse shape counts as much as fine detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dcgan.models import Discriminator, Generator, seeded_z


@dataclass
class ProjectionConfig:
    steps: int = 200  # Adam steps on z
    lr: float = 0.05  # Adam learning rate for z
    starts: int = 8  # random starting z optimised together; the best one is kept
    feature_weight: float = 0.5  # weight of the discriminator-feature (or coarse-scale) distance
    prior_weight: float = 1e-3  # keeps |z|^2 / z_dim near 1, where the generator was trained
    seed: int = 0


@dataclass
class Projection:
    z: torch.Tensor  # (z_dim,) the best z found
    image: torch.Tensor  # (C, H, W) in [-1, 1], G(z)
    pixel_error: float  # mean squared pixel difference to the target, in [-1, 1] units
    used_discriminator: bool


def target_from_file(file, size: int, channels: int) -> torch.Tensor:
    """An uploaded picture as (C, size, size) in [-1, 1]: centre-cropped square, resized. UnreadableImage (a
    ValueError) naming the file and why when it is not an image, is damaged or is too large to decode."""
    from dcgan.data.image_file import read_image

    array = read_image(file, size, channels)
    return torch.from_numpy(np.ascontiguousarray(array)).float() / 127.5 - 1


def _features(D: Discriminator | None, images: torch.Tensor) -> torch.Tensor:
    if D is not None:
        return D.features(images)
    return torch.cat([F.avg_pool2d(images, k).flatten(1) for k in (2, 4)], 1)


def _freeze(*nets) -> None:
    for net in nets:
        if net is not None:
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)


def _search(G: Generator, goal: torch.Tensor, D: Discriminator | None, cfg: ProjectionConfig, progress=None):
    """Adam on z (len(goal), z_dim), one row per row of `goal` (B, C, H, W); returns (z, G(z), per-row mean
    squared pixel error), detached."""
    _freeze(G, D)
    z = seeded_z(cfg.seed, len(goal), G.cfg.z_dim).requires_grad_(True)
    with torch.no_grad():
        goal_features = _features(D, goal)
    optimizer = torch.optim.Adam([z], lr=cfg.lr)
    for step in range(cfg.steps):
        images = G(z)
        pixel = (images - goal).square().flatten(1).mean(1)  # (B,)
        feature = (_features(D, images) - goal_features).square().mean(1)
        prior = (z.square().mean(1) - 1).square()
        loss = (pixel + cfg.feature_weight * feature + cfg.prior_weight * prior).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress:
            progress(step + 1, cfg.steps)
    with torch.no_grad():
        images = G(z)
        errors = (images - goal).square().flatten(1).mean(1)
    return z.detach(), images, errors


def project(
    G: Generator,
    target: torch.Tensor,
    D: Discriminator | None = None,
    cfg: ProjectionConfig | None = None,
    progress=None,
) -> Projection:
    """The z (of `cfg.starts` tried) whose G(z) is closest to `target` (C, H, W); `progress(step, steps)`."""
    cfg = cfg or ProjectionConfig()
    z, images, errors = _search(G, target[None].expand(cfg.starts, -1, -1, -1), D, cfg, progress)
    best = int(errors.argmin())
    return Projection(z[best].clone(), images[best].clone(), errors[best].item(), D is not None)


def project_many(
    G: Generator,
    targets: torch.Tensor,
    D: Discriminator | None = None,
    cfg: ProjectionConfig | None = None,
    progress=None,
) -> torch.Tensor:
    """The best mean squared pixel error (N,) reached for each of `targets` (N, C, H, W) in [-1, 1], all searched
    in one batch (`cfg.starts` starts each): what the memorisation check compares."""
    cfg = cfg or ProjectionConfig()
    goal = targets.repeat_interleave(cfg.starts, 0)  # (N * starts, C, H, W): each target's starts side by side
    _, _, errors = _search(G, goal, D, cfg, progress)
    return errors.reshape(len(targets), cfg.starts).min(1).values


def discriminator_beside(generator_path: str | Path) -> Discriminator | None:
    """The discriminator from the checkpoint.pt next to a run's generator.pt, or None (shipped files)."""
    from dcgan.config import RunConfig
    from dcgan.runs.checkpoint import load_checkpoint

    checkpoint_path = Path(generator_path).with_name("checkpoint.pt")
    if not checkpoint_path.exists():
        return None
    try:
        ckpt = load_checkpoint(checkpoint_path)
        D = Discriminator(RunConfig.from_dict(ckpt["config"]).validate().model)
        D.load_state_dict(ckpt["discriminator"])
    except Exception:  # a damaged or foreign checkpoint beside it (its config too): projection works on pixels alone
        return None
    return D.eval()
