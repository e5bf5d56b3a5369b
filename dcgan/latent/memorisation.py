"""Is the generator copying its training images? Two checks.

1. For one sample: its nearest training images, by the classifier's features (same shape and style) and by
   pixels (the same picture), so a person sees whether the sample is a near-copy.
2. For the whole generator (Webster et al. 2019): project N training images and N held-out real images into z
   (projection.project_many, pixels only, so every generator is measured alike, with or without its
   discriminator) and compare how well each set is recovered. A generator that memorised recovers its
   training images clearly better: the gap (held-out error minus training error) is large against its
   uncertainty. The uncertainty is the standard error of the difference of two means; with few images, or a
   gap within two standard errors, the verdict is "cannot tell".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dcgan.latent.projection import ProjectionConfig, project_many
from dcgan.quality.digit_classifier import classify

MIN_RELIABLE_IMAGES = 30  # per set: below this the standard error itself is too rough to judge the gap with
CLEAR_GAP_ERRORS = 2.0  # a gap beyond this many standard errors is called real


@dataclass
class MemorisationConfig:
    images: int = 48  # training images projected, and as many held-out ones
    steps: int = 150  # Adam steps per projection
    starts: int = 2  # random starting z per image; the best is kept
    seed: int = 0  # which images are picked (spread over each set) and the starting z


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [-1, 1], as the generator draws."""
    return images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()


def nearest_by_pixels(sample: torch.Tensor, images: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (k,), root mean squared distances (k,)) of the `images` closest to `sample` (C, H, W) in pixels,
    both in [-1, 1]."""
    distances = (to_unit(images) - to_unit(sample[None])).square().flatten(1).mean(1).sqrt()
    found = distances.topk(min(k, len(images)), largest=False)
    return found.indices, found.values


def nearest_by_features(
    sample_features: torch.Tensor, features: torch.Tensor, k: int = 5
) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (k,), Euclidean distances (k,)) of the rows of `features` (N, F) closest to `sample_features` (F,)."""
    distances = (features - sample_features.reshape(1, -1)).norm(dim=1)
    found = distances.topk(min(k, len(features)), largest=False)
    return found.indices, found.values


def classifier_features(model, images: torch.Tensor) -> torch.Tensor:
    return classify(model, images)[0]


def pick(images: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """`count` images drawn without replacement, the same for the same seed."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[:count]]


@dataclass
class MemorisationResult:
    train_errors: torch.Tensor  # (N,) best mean squared pixel error of each training image's projection
    held_out_errors: torch.Tensor  # (N,) the same for held-out images
    gap: float  # mean held-out error - mean training error: > 0 when training images are recovered better
    standard_error: float  # of the gap (two independent means)
    ratio: float  # mean held-out error / mean training error

    @property
    def reliable(self) -> bool:
        return min(len(self.train_errors), len(self.held_out_errors)) >= MIN_RELIABLE_IMAGES

    @property
    def clear(self) -> bool:
        return self.gap > CLEAR_GAP_ERRORS * self.standard_error

    def verdict(self) -> str:
        n = min(len(self.train_errors), len(self.held_out_errors))
        numbers = (
            f"training images are recovered with mean squared error {self.train_errors.mean():.4f}, held-out ones "
            f"{self.held_out_errors.mean():.4f}: gap {self.gap:+.4f} ± {self.standard_error:.4f} (one standard "
            f"error), held-out / training {self.ratio:.2f}×, over {n} images each"
        )
        if not self.reliable:
            return f"Cannot tell from so few images ({numbers}); use at least {MIN_RELIABLE_IMAGES} of each."
        if self.clear:
            return f"Signs of memorisation: {numbers}. The gap is over {CLEAR_GAP_ERRORS:g} standard errors."
        return (
            f"No sign of memorisation: {numbers}. The gap is within {CLEAR_GAP_ERRORS:g} standard errors "
            "of zero (or negative)."
        )


def compare_errors(train_errors: torch.Tensor, held_out_errors: torch.Tensor) -> MemorisationResult:
    a, b = train_errors.double(), held_out_errors.double()
    variance = (a.var() / len(a) if len(a) > 1 else math.inf) + (b.var() / len(b) if len(b) > 1 else math.inf)
    gap = (b.mean() - a.mean()).item()
    return MemorisationResult(
        train_errors, held_out_errors, gap, math.sqrt(variance), (b.mean() / a.mean().clamp_min(1e-12)).item()
    )


def reconstruction_gap(
    G, train: torch.Tensor, held_out: torch.Tensor, cfg: MemorisationConfig | None = None, progress=None
) -> MemorisationResult:
    """Project cfg.images of each set (uint8 or [-1, 1]) and compare; `progress(done, total)` over both sets'
    steps."""
    cfg = cfg or MemorisationConfig()
    search = ProjectionConfig(steps=cfg.steps, starts=cfg.starts, seed=cfg.seed)
    errors = []
    for part, images in enumerate((train, held_out)):
        chosen = to_unit(pick(images, cfg.images, cfg.seed + part))
        step_progress = (lambda i, n, part=part: progress(part * n + i, 2 * n)) if progress else None
        errors.append(project_many(G, chosen, None, search, step_progress))
    return compare_errors(*errors)
