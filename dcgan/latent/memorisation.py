"""Is the generator copying its training images? Three checks.

1. For one sample: its nearest training images, by the classifier's features (same shape and style) and by
   pixels (the same picture), so a person sees whether the sample is a near-copy.
2. For the whole generator, from its samples (in the spirit of Meehan et al. 2020's data-copying test): draw
   many samples and ask, for each, whether its nearest training image is nearer (in pixels) than its nearest
   held-out image, with as many images in both pools. A generator that only learnt the distribution puts half
   its samples nearer each pool; one that copies puts more near the training images. Seconds, and sensitive.
3. For the whole generator (Webster et al. 2019): project N training images and N held-out real images into z
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

from dcgan.latent.explore import generate
from dcgan.latent.projection import ProjectionConfig, project_many
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import classify

HELD_OUT_IMAGES = 1024  # held-out test images the whole-generator checks pick from (one street-digits block)
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
    def images(self) -> int:
        """Images projected of each set (both the same count)."""
        return len(self.train_errors)

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
            f"error), held-out / training {self.ratio:.2f}×, over {n:,} images each"
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
    count = min(cfg.images, len(train), len(held_out))  # as many of each: a run of 100 images gives 100 + 100
    errors = []
    for part, images in enumerate((train, held_out)):
        chosen = to_unit(pick(images, count, cfg.seed + part))
        step_progress = (lambda i, n, part=part: progress(part * n + i, 2 * n)) if progress else None
        errors.append(project_many(G, chosen, None, search, step_progress))
    return compare_errors(*errors)


# -- samples nearer their training images? ------------------------------------------------------------------
@dataclass
class NearestPoolConfig:
    samples: int = 2000  # generated images, each placed nearer one pool or the other
    pool: int = 1000  # images in each pool (fewer when a set has fewer: both pools are always the same size)
    seed: int = 0  # the samples' z and which images fill the pools
    batch: int = 250  # samples compared per step (one progress tick each)


@dataclass
class NearestPoolResult:
    train_distances: torch.Tensor  # (N,) each sample's mean squared pixel distance to its nearest training image
    held_out_distances: torch.Tensor  # (N,) the same to its nearest held-out image
    pool: int  # images in each pool

    @property
    def share_nearer_training(self) -> float:
        """Samples strictly nearer a training image; ties (a blank sample equally far) count half."""
        nearer = (self.train_distances < self.held_out_distances).double()
        ties = (self.train_distances == self.held_out_distances).double()
        return (nearer + ties / 2).mean().item()

    @property
    def standard_error(self) -> float:
        """Of the share, under 'no copying' (each sample a fair coin): sqrt(1/4 / N)."""
        return math.sqrt(0.25 / max(len(self.train_distances), 1))

    @property
    def reliable(self) -> bool:
        return len(self.train_distances) >= MIN_RELIABLE_IMAGES and self.pool >= MIN_RELIABLE_IMAGES

    @property
    def clear(self) -> bool:
        return self.share_nearer_training - 0.5 > CLEAR_GAP_ERRORS * self.standard_error

    def verdict(self) -> str:
        share, n = self.share_nearer_training, len(self.train_distances)
        numbers = (
            f"{share:.1%} of {n:,} samples lie nearer a training image than any held-out one "
            f"(50% ± {self.standard_error:.1%} expected without copying; pools of {self.pool:,} images each; mean "
            f"squared pixel distance to the nearest: training {self.train_distances.mean():.4f}, held out "
            f"{self.held_out_distances.mean():.4f})"
        )
        if not self.reliable:
            return f"Cannot tell from so few images ({numbers}); use at least {MIN_RELIABLE_IMAGES} in each."
        if self.clear:
            return f"Signs of copying: {numbers}. That is over {CLEAR_GAP_ERRORS:g} standard errors above 50%."
        return f"No sign of copying: {numbers}. Within {CLEAR_GAP_ERRORS:g} standard errors of 50% (or below)."


@torch.no_grad()
def nearest_pool_test(
    G, train: torch.Tensor, held_out: torch.Tensor, cfg: NearestPoolConfig | None = None, progress=None
) -> NearestPoolResult:
    """Check 2 (module docstring): `train` and `held_out` uint8 or [-1, 1]; `progress(done, total)` per batch."""
    cfg = cfg or NearestPoolConfig()
    pool = min(cfg.pool, len(train), len(held_out))
    pools = [to_unit(pick(images, pool, cfg.seed + part)).flatten(1) for part, images in enumerate((train, held_out))]
    z = seeded_z(cfg.seed, cfg.samples, G.cfg.z_dim)
    nearest: list[list[torch.Tensor]] = [[], []]
    for done, chunk in enumerate(z.split(cfg.batch), 1):
        samples = generate(G, chunk).flatten(1)
        for found, images in zip(nearest, pools):
            found.append(torch.cdist(samples, images).min(1).values.square() / samples.shape[1])
        if progress:
            progress(min(done * cfg.batch, cfg.samples), cfg.samples)
    return NearestPoolResult(torch.cat(nearest[0]), torch.cat(nearest[1]), pool)
