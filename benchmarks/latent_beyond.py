"""Cost of the latent explorer's issue-17 tools on the shipped 32 px generator, on this machine.

slider move:  one move as the page now draws it (truncation ψ = 0.7, saved batch-norm statistics, the SeFa
              family's 8 directions summed), against the plain move of benchmarks.latent_latency (reference,
              the same process); median of --moves moves. Target: as fast as the plain move (~5 ms).
SeFa:         the eigen-directions from the weights (target under 100 ms), against GANSpace's PCA of 4,096
              sampled z (the reference family).
train-mode:   one image drawn in train mode with 63 batch-mates, against the eval-mode image.
map:          2,000 samples drawn, classified and placed by t-SNE (target under 10 s), with and without 500 real
              images embedded with them, against the PCA map of the same samples (reference); with how well each
              keeps the digits apart (share of samples most of whose 10 nearest map neighbours share their class).
class fit:    3,000 samples classified and 10 boundaries fitted.
python -m benchmarks.latent_beyond [--moves 100] [--map-rounds 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from benchmarks.latent_latency import GENERATOR, one_move
from dcgan.images import image_grid, png_bytes, upscale
from dcgan.latent.batchnorm_modes import generate_in_mode
from dcgan.latent.class_directions import fit_class_directions
from dcgan.latent.directions import sefa_directions
from dcgan.latent.explore import principal_directions
from dcgan.latent.real_images import real_images_of
from dcgan.latent.sample_map import MapConfig, build_map
from dcgan.latent.truncation import truncate
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import SHIPPED_CLASSIFIER, load_classifier
from dcgan.runs.generator_file import load_generator

PSI = 0.7
REPEATS = 5  # medians of this many rounds: the machine is shared, single timings jump


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
    parser.add_argument("--map-rounds", type=int, default=1, help="maps of each kind timed (the median is shown)")
    args = parser.parse_args()
    G, meta = load_generator(GENERATOR)
    model, _ = load_classifier(SHIPPED_CLASSIFIER)
    z = seeded_z(0, 1, G.cfg.z_dim)
    sefa = sefa_directions(G)  # warm-up (torch.linalg's first call loads its kernels)
    sefa_s = statistics.median(timed(lambda: sefa_directions(G))[0] for _ in range(REPEATS))
    pca_s = statistics.median(timed(lambda: principal_directions(G))[0] for _ in range(REPEATS))
    one_move(G, z, 0.0)
    # Interleaved in rounds, so a burst of load on this shared machine falls on both alike.
    plain_rounds, ours_rounds = [], []
    for _ in range(REPEATS):
        plain_rounds.append(median_ms(lambda v: one_move(G, z, v), args.moves // REPEATS))
        ours_rounds.append(median_ms(lambda v: new_move(G, z, sefa.directions, v), args.moves // REPEATS))
    plain, ours = statistics.median(plain_rounds), statistics.median(ours_rounds)
    batch = median_ms(lambda v: new_move(G, z, sefa.directions, v, "batch"), max(10, args.moves // 5))
    maps = map_figures(G, meta, model, args.map_rounds)
    fit_s, _ = timed(lambda: fit_class_directions(G, model))
    print(f"32 px shipped generator, {torch.get_num_threads()} threads:")
    print(f"  slider move, plain (reference):          {plain:7.2f} ms")
    print(f"  slider move, psi {PSI} + 8 SeFa sliders:   {ours:7.2f} ms  ({ours / plain:.2f}x the reference)")
    print(f"  slider move in train mode (64 in batch): {batch:7.2f} ms  ({batch / plain:.1f}x the reference)")
    print(
        f"  SeFa directions:                         {sefa_s * 1000:7.1f} ms  (GANSpace PCA {pca_s * 1000:.0f} ms: "
        f"{pca_s / sefa_s:.0f}x slower; target under 100 ms: {'met' if sefa_s < 0.1 else 'NOT met'})"
    )
    print_map_figures(maps)
    print(f"  class directions (3,000 samples):        {fit_s:7.2f} s")


def map_figures(G, meta, model, rounds: int) -> dict:
    """{(method, overlay): (median seconds, SampleMap)}, the kinds interleaved in each round. The real images are
    loaded once, outside the timing (the map tab loads them before its progress bar starts)."""
    real_s, real = timed(lambda: real_images_of(meta, GENERATOR, G.cfg.image_size, G.cfg.channels, MapConfig().real))
    kinds = [(method, overlay) for method in ("pca", "tsne") for overlay in (False, True)]
    times: dict = {kind: [] for kind in kinds}
    results = {}
    for _ in range(rounds):
        for method, overlay in kinds:
            draw = partial(build_map, G, model, MapConfig(method=method), real.train if overlay else None)
            seconds, results[method, overlay] = timed(draw)
            times[method, overlay].append(seconds)
    figures = {kind: (statistics.median(times[kind]), results[kind]) for kind in kinds}
    figures["real images"] = real_s
    return figures


def print_map_figures(maps: dict) -> None:
    print(f"  real images for the overlay ({MapConfig().real}), loaded:    {maps['real images']:7.2f} s")
    for overlay in (False, True):
        pca_s, pca = maps["pca", overlay]
        tsne_s, tsne = maps["tsne", overlay]
        what = f"2,000 samples{' + 500 real' if overlay else ''}"
        print(f"  map of {what:<24} PCA (reference): {pca_s:6.2f} s")
        print(
            f"  map of {what:<24} t-SNE:           {tsne_s:6.2f} s  ({tsne_s / pca_s:.1f}x PCA; target under 10 s: "
            f"{'met' if tsne_s < 10 else 'NOT met'})"
        )
        print(
            f"    samples whose {tsne.neighbours} nearest map neighbours are mostly of their class: t-SNE "
            f"{tsne.agreement['tsne']:.1%}, PCA {pca.agreement['pca']:.1%}, classes shuffled "
            f"{tsne.agreement['shuffled']:.1%}"
        )


if __name__ == "__main__":
    main()
