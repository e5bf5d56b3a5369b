"""A 2-D map of the generator: many samples placed by the PCA of the classifier's features, coloured by the
class it reads, with real training images optionally placed on the same axes to show the modes it misses.

PCA, not t-SNE: it needs no package beyond torch, takes well under a second for 2,000 points, and its axes
mean the same for samples and real images (t-SNE would have to embed both together, and its distances
between clusters mean little).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcgan.latent.explore import generate
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import classify


@dataclass
class MapConfig:
    samples: int = 2000  # generated points on the map
    real: int = 1000  # real training images overlaid (when asked for)
    seed: int = 99  # the mapped z
    batch: int = 250  # generated and classified per step (one progress tick each)


@dataclass
class SampleMap:
    z: torch.Tensor  # (N, z_dim) each point's z
    coords: torch.Tensor  # (N, 2) its place: the first two principal components of its classifier features
    predicted: torch.Tensor  # (N,) the class the classifier reads
    confidence: torch.Tensor  # (N,) its probability
    explained: tuple[float, float]  # share of the features' variance along each axis
    real_coords: torch.Tensor | None = None  # (M, 2) real images on the same axes
    real_labels: torch.Tensor | None = None  # (M,) their true labels


@torch.no_grad()
def build_map(
    G, model, cfg: MapConfig | None = None, real_images: torch.Tensor | None = None, progress=None
) -> SampleMap:
    """Draw, classify and place cfg.samples samples (and `real_images`, uint8 or [-1, 1], on the same axes);
    `progress(done, total)` after each batch. The axes are fitted on the samples (the generator's own spread)."""
    cfg = cfg or MapConfig()
    z = seeded_z(cfg.seed, cfg.samples, G.cfg.z_dim)
    real_batches = list(real_images.split(cfg.batch)) if real_images is not None else []
    total = cfg.samples + sum(len(b) for b in real_batches)
    features, probs, done = [], [], 0
    for chunk in z.split(cfg.batch):
        f, p = classify(model, generate(G, chunk), cfg.batch)
        features.append(f)
        probs.append(p)
        done += len(chunk)
        if progress:
            progress(done, total)
    features_t, probs_t = torch.cat(features), torch.cat(probs)
    mean = features_t.mean(0)
    _, singular, components = torch.pca_lowrank(features_t - mean, q=min(6, features_t.shape[1]), center=False)
    axes = components[:, :2]  # (F, 2)
    total_variance = (features_t - mean).square().sum().clamp_min(1e-12)
    explained = tuple((singular[:2] ** 2 / total_variance).tolist())
    result = SampleMap(z, (features_t - mean) @ axes, probs_t.argmax(1), probs_t.max(1).values, explained)
    if real_batches:
        real_features = []
        for chunk in real_batches:
            real_features.append(classify(model, chunk, cfg.batch)[0])
            done += len(chunk)
            if progress:
                progress(done, total)
        result.real_coords = (torch.cat(real_features) - mean) @ axes
    return result
