"""Classifier directions ("make it a 7"): InterFaceGAN's linear boundaries in z, fitted to a classifier's
reading of the generator's samples (Shen et al. 2020).

1. Draw many z and classify G(z) with the dataset's scoring classifier.
2. For each class, fit a logistic regression in z ("is G(z) read as this class?"), all classes at once.
3. Each boundary's unit normal, pointing toward the class, is the direction: z + a·n for a > 0 moves G(z)
   toward the class. The conditional version (InterFaceGAN's) removes from a class's normal its components
   along the other chosen classes' normals, so moving along it leaves their scores about unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dcgan.latent.explore import generate
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import classify

CLASS_SPAN = 8.0  # how far a class direction is moved (σ of z): a linear boundary in z is crossed by most samples only
# that far out (on the shipped 32 px generator, +3σ turns 32% of samples into sevens, +8σ 60%)


@dataclass
class ClassDirectionConfig:
    samples: int = 3000  # z drawn and classified to fit the boundaries (about 300 per class of 10)
    steps: int = 100  # L-BFGS iterations of the logistic regression (its loss stops moving well before)
    l2: float = 1e-4  # weight decay on the normals: keeps a separable class's boundary finite
    batch: int = 500  # generator and classifier batch
    seed: int = 17  # the z drawn for fitting


@dataclass
class ClassDirections:
    normals: torch.Tensor  # (classes, z_dim) unit, each pointing toward its class
    accuracy: torch.Tensor  # (classes,) share of the fitting samples each boundary puts on the right side
    share: torch.Tensor  # (classes,) share of the fitting samples the classifier read as each class
    samples: int  # how many z the boundaries were fitted on


@torch.no_grad()
def classify_samples(G, model, z: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Class probabilities (N, classes) of G(z), the generator in eval mode."""
    probs = [classify(model, generate(G, chunk), batch)[1] for chunk in z.split(batch)]
    return torch.cat(probs)


def fit_boundaries(z: torch.Tensor, labels: torch.Tensor, classes: int, cfg: ClassDirectionConfig) -> ClassDirections:
    """One-vs-rest logistic regressions in z for every class at once, by L-BFGS on the mean binary cross-entropy
    (each class weighted by its share, so a rare class's boundary is not pushed to "never")."""
    z = z.float()
    targets = F.one_hot(labels.long(), classes).float()  # (N, classes)
    share = targets.mean(0)
    positive_weight = ((1 - share) / share.clamp_min(1.0 / len(z))).clamp(max=100.0)
    weights = torch.zeros(z.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1.0, max_iter=cfg.steps, line_search_fn="strong_wolfe")

    def loss_fn():
        optimizer.zero_grad()
        logits = z @ weights + bias
        loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=positive_weight)
        loss = loss + cfg.l2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(loss_fn)
    with torch.no_grad():
        logits = z @ weights + bias
        accuracy = ((logits > 0).float() == targets).float().mean(0)
        normals = (weights / weights.norm(dim=0).clamp_min(1e-12)).T.contiguous()
    return ClassDirections(normals, accuracy, share, len(z))


def fit_class_directions(G, model, cfg: ClassDirectionConfig | None = None, progress=None) -> ClassDirections:
    """Sample, classify, fit (see the module's docstring); `progress(done, total)` after each batch classified."""
    cfg = cfg or ClassDirectionConfig()
    z = seeded_z(cfg.seed, cfg.samples, G.cfg.z_dim)
    chunks = []
    for i, chunk in enumerate(z.split(cfg.batch)):
        chunks.append(classify_samples(G, model, chunk, cfg.batch))
        if progress:
            progress(min((i + 1) * cfg.batch, cfg.samples), cfg.samples)
    probs = torch.cat(chunks)
    return fit_boundaries(z, probs.argmax(1), probs.shape[1], cfg)


def conditional_direction(normals: torch.Tensor, target: int, others: list[int]) -> torch.Tensor:
    """The target class's normal with its components along the other classes' normals removed (projected onto
    their span's orthogonal complement), as a unit vector: moving along it changes the target's boundary
    distance and none of the others'."""
    direction = normals[target]
    others = [o for o in others if o != target]
    if not others:
        return direction.clone()
    basis = normals[others].T  # (z_dim, k)
    coefficients = torch.linalg.lstsq(basis, direction.reshape(-1, 1)).solution  # (k, 1)
    residual = direction - (basis @ coefficients).reshape(-1)
    norm = residual.norm()
    if norm < 1e-6:  # the target's normal lies in the others' span: nothing is left to move along
        raise ValueError("this class's direction is a mix of the other chosen classes' directions")
    return residual / norm


@torch.no_grad()
def moved_histogram(G, model, z: torch.Tensor, direction: torch.Tensor, amount: float, classes: int) -> torch.Tensor:
    """Share of samples per predicted class (classes,) after moving every z by `amount` along `direction`."""
    probs = classify_samples(G, model, z + amount * direction.reshape(1, -1))
    return torch.bincount(probs.argmax(1), minlength=classes).float() / len(z)
