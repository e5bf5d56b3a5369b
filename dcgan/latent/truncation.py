"""The truncation trick: z pulled toward the mean of its prior, trading variety for cleaner samples.

z' = mean + ψ (z - mean); ψ = 1 is the plain sample, ψ = 0 the mean image for every z. DCGAN's z ~ N(0, I),
so the mean is 0 (StyleGAN truncates its w, whose mean it estimates; z here needs no estimate).
The trade-off is measured on a fixed batch of z, in the dataset classifier's eyes (quality/score.py):
  cleaner: the classifier's mean confidence in its top class;
  less varied: the mean distance between two samples' classifier features, and the Inception-like score
  (high only when samples are confident AND spread over the classes); with real images, precision and
  recall too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcgan.latent.explore import generate
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import classify
from dcgan.quality.score import RealReference, score_features


@dataclass
class TruncationConfig:
    samples: int = 500  # z in the measured batch (the same z at every ψ, so only ψ changes)
    seed: int = 4321  # the measured batch's z
    batch: int = 500


def truncate(z: torch.Tensor, psi: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """z pulled toward `mean` (0 by default, the prior's mean) by ψ: mean + ψ (z - mean)."""
    center = torch.zeros_like(z) if mean is None else mean.to(z)
    return center + psi * (z - center)


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """The mean Euclidean distance between two different samples' features: 0 when all are the same."""
    n = len(features)
    if n < 2:
        return 0.0
    distances = torch.cdist(features.float(), features.float())
    return (distances.sum() / (n * (n - 1))).item()


@dataclass
class TruncationReport:
    psi: float
    confidence: float  # mean top-class probability: cleaner samples read as some class with confidence
    diversity: float  # mean pairwise distance of classifier features: less varied samples are closer
    inception_like: float  # exp(E KL(p(y|x) || p(y))): confident and spread over the classes
    classes_made: int  # classes predicted for at least 1% of the batch
    precision: float | None  # with real images: share of samples inside the real images' manifold
    recall: float | None  # share of real images inside the samples' manifold
    samples: int


@torch.no_grad()
def measure_truncation(
    G, model, psi: float, real: RealReference | None = None, cfg: TruncationConfig | None = None
) -> TruncationReport:
    """The batch's numbers at ψ (see the module's docstring)."""
    cfg = cfg or TruncationConfig()
    z = truncate(seeded_z(cfg.seed, cfg.samples, G.cfg.z_dim), psi)
    images = torch.cat([generate(G, chunk) for chunk in z.split(cfg.batch)])
    features, probs = classify(model, images, cfg.batch)
    histogram = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float() / len(probs)
    precision = recall = None
    if real is not None:
        score = score_features(features, probs, real)
        inception_like, precision, recall = score.inception_like, score.precision, score.recall
    else:
        marginal = probs.mean(0)
        kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
        inception_like = float(kl.exp())
    return TruncationReport(
        psi,
        probs.max(1).values.mean().item(),
        mean_pairwise_distance(features),
        inception_like,
        int((histogram >= 0.01).sum()),
        precision,
        recall,
        len(z),
    )


def describe_change(plain: TruncationReport, truncated: TruncationReport) -> str:
    """One sentence in numbers: how much cleaner and less varied ψ made the batch than ψ = 1."""
    cleaner = "cleaner" if truncated.confidence >= plain.confidence else "less clean"
    varied = "less varied" if truncated.diversity <= plain.diversity else "more varied"
    return (
        f"At ψ = {truncated.psi:.2f}: {cleaner} (the classifier's mean confidence {plain.confidence:.1%} → "
        f"{truncated.confidence:.1%}), {varied} (mean feature distance between two samples {plain.diversity:.2f} → "
        f"{truncated.diversity:.2f}; classes made {plain.classes_made} → {truncated.classes_made}; Inception-like "
        f"{plain.inception_like:.2f} → {truncated.inception_like:.2f})."
    )
