"""Directions in z: closed-form ones (SeFa), a common form for every family, and strips along them.

SeFa (Shen & Zhou 2021): the first layer that reads z maps it linearly, y = A z, so the unit z-directions
that change y the most are the top eigenvectors of AᵀA, found from the weights alone: no sampling, the same
for any generator, milliseconds. GANSpace's directions (explore.principal_directions) sample many z instead.
Directions are unit vectors, and z ~ N(0, I) has standard deviation 1 along any unit vector, so moving a
direction by 3 is moving it by 3σ of the prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dcgan.latent.explore import PrincipalDirections, generate
from dcgan.models import Generator

STRIP_SPAN = 3.0  # an exported strip runs from -this to +this, in σ of z along the direction
STRIP_STEPS = 7  # images in an exported strip (-3σ, -2σ, ..., +3σ)


@dataclass
class DirectionSet:
    """One family of directions as the sliders show them."""

    family: str  # what a person reads: "SeFa (closed form)", "PCA (GANSpace)", ...
    directions: torch.Tensor  # (k, z_dim) unit rows, most important first
    labels: list[str]  # each slider's label, e.g. "SeFa 1 (eigenvalue 2.31)"

    def __len__(self) -> int:
        return len(self.directions)


def first_layer_matrix(G: Generator) -> torch.Tensor:
    """A (outputs, z_dim) with the first layer's output = A z (+ bias): nn.Linear's weight as it is, a
    transposed convolution's (z_dim, C, k, k) weight (a 1x1 input makes a C x k x k map) flattened and
    transposed. The first module holding a weight whose input size is z_dim is the one that reads z."""
    z_dim: int = G.cfg.z_dim
    for module in G.modules():
        if isinstance(module, nn.Linear) and module.in_features == z_dim:
            return module.weight.detach().float().cpu()  # (out, z_dim)
        if isinstance(module, nn.ConvTranspose2d) and module.in_channels == z_dim:
            return module.weight.detach().float().cpu().reshape(z_dim, -1).T  # (C * k * k, z_dim)
    raise ValueError("this generator has no linear or transposed-convolution layer that reads z directly")


@torch.no_grad()
def sefa_directions(G: Generator, count: int = 8) -> DirectionSet:
    """The top `count` eigenvectors of AᵀA (A: first_layer_matrix), as rows, largest eigenvalue first; each
    labelled with its eigenvalue (how much a unit move along it changes the first layer's output, squared)."""
    A = first_layer_matrix(G).double()
    values, vectors = torch.linalg.eigh(A.T @ A)  # ascending, (z_dim,), (z_dim, z_dim) columns
    count = min(count, len(values))
    top = torch.flip(torch.arange(len(values)), [0])[:count]
    directions = vectors[:, top].T.float()  # (count, z_dim)
    # An eigenvector's sign is arbitrary: point each toward its largest entry, so a direction keeps its sense
    # from one computation to the next.
    signs = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))
    directions = directions * signs
    labels = [f"SeFa {i + 1} (eigenvalue {values[j].item():.3g})" for i, j in enumerate(top.tolist())]
    return DirectionSet("SeFa (closed form)", directions.contiguous(), labels)


def pca_set(found: PrincipalDirections) -> DirectionSet:
    """The GANSpace directions in the common form."""
    labels = [f"PCA {i + 1} ({v:.0%} of variance)" for i, v in enumerate(found.variance.tolist())]
    return DirectionSet("PCA (GANSpace)", found.directions, labels)


def strip_z(
    z: torch.Tensor, direction: torch.Tensor, steps: int = STRIP_STEPS, span: float = STRIP_SPAN
) -> torch.Tensor:
    """(steps, z_dim): z moved along the unit `direction` from -span to +span (σ of z), evenly."""
    amounts = torch.linspace(-span, span, steps).reshape(-1, 1)
    unit = direction / direction.norm().clamp_min(1e-12)
    return z.reshape(1, -1) + amounts * unit.reshape(1, -1)


def direction_strip(G: nn.Module, z: torch.Tensor, direction: torch.Tensor, steps: int = STRIP_STEPS) -> torch.Tensor:
    """Images (steps, C, H, W) in [-1, 1] of z moved along `direction` from -3σ to +3σ (eval mode)."""
    return generate(G, strip_z(z, direction, steps))
