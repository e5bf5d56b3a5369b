"""The lesson's inference-mode point, shown two ways: batch norm must use population statistics at
inference, or an example's output depends on the other examples in its batch."""

from __future__ import annotations

import copy

import torch

from dcgan.bnlab.networks import StackedNetworks
from dcgan.models import Generator, seeded_z

# Batch b's other z are drawn from seed + NEIGHBOUR_SEED_OFFSET + b. Drawn from `seed` itself they would
# begin with the very z being followed (seeded_z's first row), so the batch would hold it twice; any offset
# of at least 1 avoids that, and 100 keeps the neighbours apart from the few seeds next to it as well.
NEIGHBOUR_SEED_OFFSET = 100


@torch.no_grad()
def one_at_a_time(nets: StackedNetworks, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy of the batch-norm network (the second of a pair) fed one example at a time.

    With batch statistics a batch of one normalises every unit to 0, so every example gets the same
    output and the accuracy falls to about one class in ten; population statistics keep it."""
    bn = int(nets.batchnorm.flatten().nonzero()[0])  # the first batch-norm network
    x, y = x.to(nets.lr.device), y.to(nets.lr.device)
    batch_stats = torch.stack(
        [nets.forward(x[i : i + 1], training=True, update_population=False)[bn, 0] for i in range(len(x))]
    )
    population = torch.stack([nets.forward(x[i : i + 1], training=False)[bn, 0] for i in range(len(x))])
    whole_batch = nets.forward(x, training=True, update_population=False)[bn]
    accuracy = lambda logits: (logits.argmax(-1) == y).float().mean().item()
    return {
        "one at a time, batch statistics (training mode)": accuracy(batch_stats),
        "one at a time, population statistics (eval mode)": accuracy(population),
        f"all {len(x)} at once, batch statistics": accuracy(whole_batch),
    }


@torch.no_grad()
def generator_in_batches(
    G: Generator, seed: int = 0, batches: int = 3, batch_size: int = 16
) -> dict[str, torch.Tensor]:
    """One z drawn alone and inside `batches` different batches, in training mode and in eval mode.

    Returns {label: images (batches + 1, C, H, W)}: the same z each time. In training mode its image
    changes with its neighbours (and alone, batch norm of one sample wipes it out); in eval mode it does not."""
    G = copy.deepcopy(G)  # training-mode passes would move the original's running statistics
    z = seeded_z(seed, 1, G.cfg.z_dim)
    contexts = [z] + [
        torch.cat([z, seeded_z(seed + NEIGHBOUR_SEED_OFFSET + b, batch_size - 1, G.cfg.z_dim)]) for b in range(batches)
    ]
    out = {}
    for mode in ("training mode", "eval mode"):
        G.train(mode == "training mode")
        out[mode] = torch.stack([G(batch)[0] for batch in contexts]).float()
    return out
