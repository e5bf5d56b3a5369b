"""Which batch-norm statistics the generator draws with, seen on one z.

running:    the statistics saved with the generator (eval mode, the explorer's default): one z always gives
            the same image;
batch:      the current batch's own statistics (train mode, as during training): the same z gives a
            different image with other batch-mates, because every image is normalised with the others;
recomputed: running statistics computed again now over many z (explore.recalibrate_batchnorm), for a
            generator whose saved ones do not describe what its layers see.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dcgan.latent.explore import ExplorerConfig, generate, recalibrate_batchnorm
from dcgan.models import Generator, seeded_z

BN_MODES = {
    "running": "saved running statistics (eval mode)",
    "batch": "this batch's statistics (train mode)",
    "recomputed": "statistics recomputed now",
}
BATCH_MATES = 63  # other z drawn with the shown ones in "batch" mode (a training batch is 128; 64 is plenty)


def has_batchnorm(G: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules())


def recalibrated_copy(G: Generator, cfg: ExplorerConfig | None = None) -> Generator:
    """A copy of G with its batch-norm statistics recomputed (G itself untouched)."""
    copied = copy.deepcopy(G)
    recalibrate_batchnorm(copied, cfg)
    return copied


@torch.no_grad()
def generate_in_batch_mode(G: nn.Module, z: torch.Tensor, mates_seed: int, mates: int = BATCH_MATES) -> torch.Tensor:
    """Images (B, C, H, W) of z drawn in train mode, in one batch with `mates` other z from `mates_seed`: each
    image is normalised with the statistics of that whole batch. G's running statistics are left unchanged."""
    saved = {k: v.clone() for k, v in G.state_dict().items()}
    others = seeded_z(mates_seed, mates, z.shape[1])
    device = next(G.parameters()).device
    G.train()
    try:
        images = G(torch.cat([z, others]).to(device)).float().cpu()[: len(z)]
    finally:
        G.load_state_dict(saved)  # a train-mode pass moves the running statistics, even under no_grad
        G.eval()
    return images


def generate_in_mode(
    G: nn.Module, z: torch.Tensor, mode: str, mates_seed: int = 0, recalibrated: nn.Module | None = None
) -> torch.Tensor:
    """Images of z with the batch-norm statistics `mode` names (BN_MODES)."""
    if mode == "batch":
        return generate_in_batch_mode(G, z, mates_seed)
    if mode == "recomputed":
        if recalibrated is None:
            raise ValueError("recomputed mode needs the recalibrated copy of the generator")
        return generate(recalibrated, z)
    return generate(G, z)


def batch_dependence(G: nn.Module, z: torch.Tensor, mate_sets: list[tuple[int, int]]) -> tuple[torch.Tensor, float]:
    """Images (len(mate_sets), C, H, W) of the one z (z_dim,) drawn in train mode with each set of batch-mates
    (seed, how many), and the mean |pixel difference| between them and the eval-mode image (in [-1, 1] units)."""
    images = torch.cat([generate_in_batch_mode(G, z.reshape(1, -1), s, n) for s, n in mate_sets])
    plain = generate(G, z.reshape(1, -1))
    return images, (images - plain).abs().mean().item()
