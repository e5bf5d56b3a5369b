"""Cost of the latent explorer's issue-17 tools on the shipped 32 px generator, on this machine.

slider move:  one move as the page now draws it (truncation ψ = 0.7, saved batch-norm statistics, the SeFa
              family's 8 directions summed), against the plain move of benchmarks.latent_latency (reference,
              the same process); median of --moves moves. Target: as fast as the plain move (~5 ms).
SeFa:         the eigen-directions from the weights (target under 100 ms), against GANSpace's PCA of 4,096
              sampled z (the reference family).
train-mode:   one image drawn in train mode with 63 batch-mates, against the eval-mode image.
map:          2,000 samples drawn, classified and placed (target under 10 s).
class fit:    3,000 samples classified and 10 boundaries fitted.
python -m benchmarks.latent_beyond [--moves 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.latent_latency import GENERATOR, one_move
from dcgan.images import image_grid, png_bytes, upscale
from dcgan.latent.batchnorm_modes import generate_in_mode
from dcgan.latent.class_directions import fit_class_directions
from dcgan.latent.directions import sefa_directions
from dcgan.latent.explore import principal_directions
from dcgan.latent.sample_map import build_map
from dcgan.latent.truncation import truncate
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import SHIPPED_CLASSIFIER, load_classifier
from dcgan.runs.generator_file import load_generator

PSI = 0.7


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_ms(fn, moves: int) -> float:
    times = [timed(lambda i=i: fn(-3 + 6 * i / moves))[0] for i in range(moves)]
    return statistics.median(times) * 1000


def new_move(G, z: torch.Tensor, directions: torch.Tensor, value: float, mode: str = "running") -> bytes:
    amounts = torch.full((len(directions),), value / len(directions))
    moved = z + amounts @ directions
    images = generate_in_mode(G, truncate(moved, PSI), mode)
    return png_bytes(image_grid(upscale(images, 256 // G.cfg.image_size)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    G, _ = load_generator(GENERATOR)
    model, _ = load_classifier(SHIPPED_CLASSIFIER)
    z = seeded_z(0, 1, G.cfg.z_dim)
    sefa_directions(G)  # warm-up (torch.linalg's first call loads its kernels)
    sefa_s, sefa = timed(lambda: sefa_directions(G))
    pca_s, _ = timed(lambda: principal_directions(G))
    one_move(G, z, 0.0)
    plain = median_ms(lambda v: one_move(G, z, v), args.moves)
    ours = median_ms(lambda v: new_move(G, z, sefa.directions, v), args.moves)
    batch = median_ms(lambda v: new_move(G, z, sefa.directions, v, "batch"), max(10, args.moves // 5))
    map_s, _ = timed(lambda: build_map(G, model))
    fit_s, _ = timed(lambda: fit_class_directions(G, model))
    print(f"32 px shipped generator, {torch.get_num_threads()} threads:")
    print(f"  slider move, plain (reference):          {plain:7.2f} ms")
    print(f"  slider move, psi {PSI} + 8 SeFa sliders:   {ours:7.2f} ms  ({ours / plain:.2f}x the reference)")
    print(f"  slider move in train mode (64 in batch): {batch:7.2f} ms  ({batch / plain:.1f}x the reference)")
    print(
        f"  SeFa directions:                         {sefa_s * 1000:7.1f} ms  (GANSpace PCA {pca_s * 1000:.0f} ms: "
        f"{pca_s / sefa_s:.0f}x slower; target under 100 ms: {'met' if sefa_s < 0.1 else 'NOT met'})"
    )
    print(
        f"  map of 2,000 samples:                    {map_s:7.2f} s   "
        f"(target under 10 s: {'met' if map_s < 10 else 'NOT met'})"
    )
    print(f"  class directions (3,000 samples):        {fit_s:7.2f} s")


if __name__ == "__main__":
    main()
