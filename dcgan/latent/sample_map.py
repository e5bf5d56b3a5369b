"""A 2-D map of the generator: many samples placed by their classifier features, coloured by the class it reads,
with real training images optionally placed on the same plane to show the modes the generator misses.

Two placements. t-SNE (tsne.py, the default) keeps each point's nearest neighbours near: the digits form their
own clusters, but the distances between clusters and the axes mean nothing, and the real images must be
embedded together with the samples to share their plane. PCA (the first two principal components, fitted on the
samples) has axes that mean the same everywhere and places real images by projection, but the digits overlap.
How well either keeps the classes apart is measured on the map itself (neighbour_agreement) and kept with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from dcgan.latent.explore import generate
from dcgan.latent.truncation import truncate
from dcgan.latent.tsne import TsneConfig, neighbour_agreement, torch_threads, tsne
from dcgan.models import seeded_z
from dcgan.quality.digit_classifier import classify

METHODS = ("tsne", "pca")
# Progress is counted in units of about one image drawn or classified; a t-SNE step over N points costs about
# N^2 / PAIRS_PER_UNIT of them and the perplexity search about AFFINITY_STEPS steps. Measured on the 2-core CPU
# this was written on (one thread): 0.4 ms an image either way, 7.4 ms a step over 2,000 points, 0.5 s for the
# affinities. Only the ETA's accuracy rests on these.
PAIRS_PER_UNIT = 2000**2 * 0.4 / 7.4
AFFINITY_STEPS = 70
SHUFFLE_SEED = 0  # the labels shuffled for the cluster check's chance level


@dataclass
class MapConfig:
    samples: int = 2000  # generated points on the map
    real: int = 500  # real training images overlaid when asked for (t-SNE embeds them with the samples)
    seed: int = 99  # the mapped z: sample i is row i of seeded_z(seed, samples, z_dim)
    psi: float = 1.0  # truncation ψ the samples are drawn at (truncation.py); SampleMap.z stays untruncated
    batch: int = 250  # images drawn or classified at once (one progress tick each)
    method: str = "tsne"  # "tsne": clusters by class, distances between clusters mean little; "pca": 2 components
    neighbours: int = 10  # the cluster check: a sample agrees when most of its this many map neighbours share its class
    threads: int | None = 1  # torch's CPU threads while the map is made (None: as set); one ran 2.5x faster here
    tsne: TsneConfig = field(default_factory=TsneConfig)  # t-SNE's own settings (perplexity, steps, ...)


@dataclass
class PicturesConfig:
    """Pictures on the map (as the TensorBoard projector shows its sprites): one sample per cell of a cells x cells
    grid over the map, the one nearest the cell's centre, drawn at its place."""

    cells: int = 12  # per side: at most 144 pictures, about one per cluster part at 2,000 samples
    size: float = 0.07  # each picture's width as a share of the map's wider side


@dataclass
class SampleMap:
    z: torch.Tensor  # (N, z_dim) each point's z
    coords: torch.Tensor  # (N, 2) its place on the map
    predicted: torch.Tensor  # (N,) the class the classifier reads
    confidence: torch.Tensor  # (N,) its probability
    method: str = "tsne"  # how the points were placed (MapConfig.method)
    explained: tuple[float, float] | None = None  # PCA: share of the features' variance along each axis
    agreement: dict[str, float] = field(default_factory=dict)  # method or "shuffled" -> share of samples that agree
    neighbours: int = 10  # the k of the agreement
    real_coords: torch.Tensor | None = None  # (M, 2) real images on the same plane
    real_labels: torch.Tensor | None = None  # (M,) their true labels, when the dataset has them
    psi: float = 1.0  # the truncation ψ the samples were drawn at


class MapStages:
    """The stages build_map reports, with what they cost in progress units (see PAIRS_PER_UNIT)."""

    def __init__(self, cfg: MapConfig, real: int):
        points = cfg.samples + real
        step = points**2 / PAIRS_PER_UNIT
        embedding = (cfg.tsne.iterations + AFFINITY_STEPS) * step if cfg.method == "tsne" else 0
        self.costs = {"drawing": cfg.samples, "classifying": points, "embedding": embedding}
        self.total = round(sum(self.costs.values()))


@torch.no_grad()
def build_map(
    G,
    model,
    cfg: MapConfig | None = None,
    real_images: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
    real_labels: torch.Tensor | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> SampleMap:
    """Draw, classify and place cfg.samples samples (and `real_images`, uint8 or [-1, 1], on the same plane).

    `progress(done, total)` after each batch and every few t-SNE steps, in units of about one image drawn (the
    ETA holds across the stages); `on_stage(name)` as "drawing", "classifying" and "embedding" begin.

    On cfg.threads CPU threads: on the busy 2-core machine this was written on, a 2,000-sample PCA map took 1.6 s
    on one and 4 s on two (torch_threads)."""
    cfg = cfg or MapConfig()
    if cfg.method not in METHODS:
        raise ValueError(f"unknown map method {cfg.method!r}: use one of {', '.join(METHODS)}")
    if not 0 <= cfg.psi <= 1:
        raise ValueError(f"truncation ψ must be between 0 and 1, not {cfg.psi}")
    with torch_threads(cfg.threads):
        return _build(G, model, cfg, real_images, progress, real_labels, on_stage)


def _build(G, model, cfg: MapConfig, real_images, progress, real_labels, on_stage) -> SampleMap:
    real_count = 0 if real_images is None else len(real_images)
    stages = MapStages(cfg, real_count)
    done = 0.0

    def advance(units: float) -> None:
        nonlocal done
        done += units
        if progress:
            progress(min(round(done), stages.total), stages.total)

    def begin(stage: str) -> None:
        if on_stage:
            on_stage(stage)

    # 1. drawing
    begin("drawing")
    z = seeded_z(cfg.seed, cfg.samples, G.cfg.z_dim)
    images = []
    for chunk in z.split(cfg.batch):
        images.append(generate(G, truncate(chunk, cfg.psi)))
        advance(len(chunk))
    # 2. classifying: the samples, then the real images
    begin("classifying")
    features, probs = [], []
    real_chunks = real_images.split(cfg.batch) if real_images is not None else ()
    for chunk in [*torch.cat(images).split(cfg.batch), *real_chunks]:
        f, p = classify(model, chunk, cfg.batch)
        features.append(f)
        probs.append(p)
        advance(len(chunk))
    all_features = torch.cat(features)  # (N + M, 128): samples first
    sample_probs = torch.cat(probs)[: cfg.samples]
    predicted = sample_probs.argmax(1)
    # 3. embedding
    begin("embedding")
    pca_coords, explained = principal_plane(all_features[: cfg.samples], all_features)
    if cfg.method == "tsne":
        tsne_units = stages.costs["embedding"]
        reported = [0.0]

        def tsne_progress(step: int, steps: int) -> None:  # step 0: the affinities are ready
            share = (AFFINITY_STEPS + step) / (AFFINITY_STEPS + steps)
            advance(tsne_units * share - reported[0])
            reported[0] = tsne_units * share

        coords = tsne(all_features, cfg.tsne, tsne_progress)
    else:
        coords = pca_coords
    shuffled = predicted[torch.randperm(cfg.samples, generator=torch.Generator().manual_seed(SHUFFLE_SEED))]
    agreement = {
        "pca": neighbour_agreement(pca_coords[: cfg.samples], predicted, cfg.neighbours),
        "shuffled": neighbour_agreement(coords[: cfg.samples], shuffled, cfg.neighbours),
    }
    agreement[cfg.method] = neighbour_agreement(coords[: cfg.samples], predicted, cfg.neighbours)
    return SampleMap(
        z,
        coords[: cfg.samples],
        predicted,
        sample_probs.max(1).values,
        cfg.method,
        explained if cfg.method == "pca" else None,
        agreement,
        cfg.neighbours,
        coords[cfg.samples :] if real_count else None,
        real_labels,
        cfg.psi,
    )


def principal_plane(fit_on: torch.Tensor, place: torch.Tensor) -> tuple[torch.Tensor, tuple[float, float]]:
    """`place` (N, F) on the first two principal axes of `fit_on` (M, F), and the share of fit_on's variance
    along each."""
    mean = fit_on.double().mean(0)
    centred = fit_on.double() - mean
    _, singular, components = torch.linalg.svd(centred, full_matrices=False)  # exact: the same map every time
    axes = components[:2].T  # (F, 2)
    total_variance = centred.square().sum().clamp_min(1e-12)
    explained = (singular[:2] ** 2 / total_variance).tolist()
    return ((place.double() - mean) @ axes).float(), (explained[0], explained[1])


def lonely_real_share(result: SampleMap) -> float | None:
    """The share of real images none of whose `result.neighbours` nearest map points (real or sample) is a
    sample: where the generator does not go. None without a real overlay."""
    if result.real_coords is None or not len(result.real_coords):
        return None
    points = torch.cat([result.coords, result.real_coords])
    d = torch.cdist(result.real_coords.double(), points.double())  # (M, N + M)
    d[:, len(result.coords) :].fill_diagonal_(float("inf"))  # a real image is not its own neighbour
    nearest = d.topk(min(result.neighbours, len(points) - 1), largest=False).indices
    return (nearest >= len(result.coords)).all(1).float().mean().item()


def pictured_samples(coords: torch.Tensor, cells: int) -> list[int]:
    """The samples to draw as pictures: for each cell of a cells x cells grid over the bounding box of `coords`
    (N, 2) that holds any, the sample nearest the cell's centre; so the pictures spread over the map evenly
    instead of piling up in its dense clusters."""
    finite = torch.isfinite(coords).all(1)
    if not finite.any():
        return []
    low, high = coords[finite].min(0).values, coords[finite].max(0).values
    width = (high - low).clamp_min(1e-12) / cells
    cell = ((coords - low) / width).floor().clamp(0, cells - 1).long()  # (N, 2)
    centre = low + (cell.float() + 0.5) * width
    distance = (coords - centre).norm(dim=1)
    nearest: dict[tuple[int, int], int] = {}
    for i, (key, d) in enumerate(zip(map(tuple, cell.tolist()), distance.tolist())):
        if not finite[i]:
            continue
        if key not in nearest or d < distance[nearest[key]].item():
            nearest[key] = i
    return sorted(nearest.values())
