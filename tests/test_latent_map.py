"""Issue 17's map: the exact t-SNE (dcgan/latent/tsne.py), the map built on it (sample_map.py) and the Map tab's
click that loads a sample into the sliders."""

import json
import math

import pytest
import torch
from torch import nn

from dcgan.config import ModelConfig
from dcgan.latent.sample_map import MapConfig, SampleMap, build_map, lonely_real_share, pictured_samples
from dcgan.latent.tsne import (
    TsneConfig,
    conditional_affinities,
    joint_affinities,
    kl_gradient,
    neighbour_agreement,
    squared_distances,
    tsne,
)

QUICK = TsneConfig(perplexity=15)  # 400 steps: the default; small sets take well under a second


def blobs(per_blob: int = 40, dims: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian blobs in `dims` dimensions, 10 standard deviations apart, and their labels."""
    g = torch.Generator().manual_seed(seed)
    centres = 10 * torch.randn(3, dims, generator=g)
    labels = torch.arange(3).repeat_interleave(per_blob)
    return centres[labels] + torch.randn(len(labels), dims, generator=g), labels


# -- t-SNE ------------------------------------------------------------------------------------------
def test_tsne_separates_well_separated_blobs_where_a_random_placement_does_not():
    x, labels = blobs()
    placed = tsne(x, QUICK)
    assert placed.shape == (len(x), 2)
    assert neighbour_agreement(placed, labels) > 0.97
    assert neighbour_agreement(torch.randn(len(x), 2, generator=torch.Generator().manual_seed(1)), labels) < 0.4


def test_tsne_is_the_same_every_run_and_a_random_start_follows_its_seed():
    x, _ = blobs(per_blob=20)
    assert torch.equal(tsne(x, QUICK), tsne(x, QUICK))  # the PCA start needs no seed
    seeded = [TsneConfig(**{**QUICK.__dict__, "init": "random", "seed": s}) for s in (1, 1, 2)]
    a, b, c = (tsne(x, cfg) for cfg in seeded)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_perplexity_search_gives_rows_whose_entropy_is_log_perplexity():
    x, _ = blobs(per_blob=30)
    for perplexity in (5.0, 20.0):
        p, reported = conditional_affinities(squared_distances(x), perplexity)
        assert torch.allclose(p.sum(1), torch.ones(len(p)), atol=1e-5)
        assert torch.all(p.diagonal() == 0)
        entropy = -(p * p.clamp_min(1e-30).log()).sum(1)  # computed afresh from the rows, not the search's own
        assert torch.allclose(entropy, torch.full_like(entropy, math.log(perplexity)), atol=1e-3)
        assert torch.allclose(reported, entropy, atol=1e-3)


def test_the_gradient_is_that_of_the_kl_divergence():
    x, _ = blobs(per_blob=10, dims=8)
    p = joint_affinities(x, TsneConfig(perplexity=5)).double()
    assert torch.allclose(p, p.T) and p.sum().item() == pytest.approx(1.0, abs=1e-5)
    y = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    w = 1 / (1 + squared_distances(y))  # squared_distances keeps the graph when y needs it
    w = w * (1 - torch.eye(len(y), dtype=torch.float64))
    q = w / w.sum()
    off = ~torch.eye(len(y), dtype=torch.bool)
    (p[off] * (p[off].log() - q[off].log())).sum().backward()
    import dcgan.latent.tsne as tsne_module

    blocked = tsne_module.BLOCK_ELEMENTS
    tsne_module.BLOCK_ELEMENTS = 2 * len(y)  # two rows a block: the block seams are crossed too
    try:
        found = kl_gradient(y.detach().float(), p.float())
    finally:
        tsne_module.BLOCK_ELEMENTS = blocked
    assert torch.allclose(found.double(), y.grad, rtol=1e-3, atol=1e-6)


def test_tsne_reports_its_progress_from_the_affinities_to_the_last_step():
    x, _ = blobs(per_blob=10)
    calls = []
    tsne(x, TsneConfig(iterations=35, exaggeration_iterations=10, perplexity=5), lambda s, n: calls.append((s, n)))
    assert calls == [(0, 35), (10, 35), (20, 35), (30, 35), (35, 35)]


def test_neighbour_agreement_counts_points_whose_neighbours_mostly_share_their_label():
    coords = torch.tensor([[0.0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    assert neighbour_agreement(coords, labels, k=2) == 1.0
    assert neighbour_agreement(coords, torch.tensor([0, 1, 0, 1, 0, 1]), k=2) == pytest.approx(0.0)


# -- the map ----------------------------------------------------------------------------------------
class TinyClassifier(nn.Module):
    """Reads images as the digit classifier does (features, logits): its features are the 2 x 2 mean colours."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(12, 10)

    def forward(self, images):
        features = nn.functional.adaptive_avg_pool2d(images, 2).flatten(1)  # (B, 12)
        return features, self.head(features)


class SpreadGenerator(nn.Module):
    """A generator whose images differ with z far more than an untrained DCGAN's (whose samples all look alike,
    so no sample has a clear nearest neighbour): a fixed linear map, then tanh."""

    def __init__(self):
        super().__init__()
        self.cfg = ModelConfig(image_size=16, z_dim=8)
        self.pixels = nn.Linear(8, 3 * 16 * 16)

    def forward(self, z):
        return torch.tanh(self.pixels(z)).view(-1, 3, 16, 16)


@pytest.fixture(scope="module")
def tiny_G():
    torch.manual_seed(0)
    return SpreadGenerator().eval()


def small_map(method: str) -> MapConfig:
    return MapConfig(samples=60, batch=25, method=method, tsne=QUICK)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_map_keeps_the_real_rows_apart_from_the_samples(tiny_G, method):
    from dcgan.latent.explore import generate
    from dcgan.models import seeded_z

    cfg = small_map(method)
    z = seeded_z(cfg.seed, cfg.samples, tiny_G.cfg.z_dim)
    real = torch.cat([generate(tiny_G, z[:5]), -torch.ones(7, 3, 16, 16)])  # 5 copies of samples 0-4, 7 black
    stages, calls = [], []
    found = build_map(
        tiny_G, TinyClassifier(), cfg, real, lambda d, t: calls.append((d, t)), torch.arange(12), stages.append
    )
    assert found.coords.shape == (60, 2) and found.real_coords is not None and found.real_coords.shape == (12, 2)
    assert torch.equal(found.z, z) and len(found.predicted) == 60 and found.real_labels is not None
    # A real image that is a sample's copy lies on that sample (PCA) or among its nearest few (t-SNE keeps
    # neighbourhoods, of about `perplexity` points, not exact places); the black ones, unlike every sample, lie
    # together, apart from the samples.
    nearest = torch.cdist(found.real_coords[:5], found.coords).topk(1 if method == "pca" else 3, largest=False)
    assert all(i in row for i, row in enumerate(nearest.indices.tolist())), nearest.indices
    black = found.real_coords[5:]
    assert torch.cdist(black, black).max() < torch.cdist(black, found.coords).min()
    assert stages == ["drawing", "classifying", "embedding"]
    assert calls[-1][0] == calls[-1][1] and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert set(found.agreement) == {"pca", "shuffled", method}


def test_an_unknown_placement_is_refused_with_the_known_ones(tiny_G):
    with pytest.raises(ValueError, match="tsne, pca"):
        build_map(tiny_G, TinyClassifier(), small_map("umap"))
    with pytest.raises(ValueError, match="between 0 and 1"):
        build_map(tiny_G, TinyClassifier(), MapConfig(samples=60, method="pca", psi=1.5))


def test_the_map_draws_at_the_truncation_it_is_given_and_keeps_the_plain_z(tiny_G):
    """The Map tab draws at the page's ψ, so a clicked point (its plain z, truncated again by the Sliders tab)
    shows the picture the map placed. At ψ = 0 every z is the mean: one picture, one place, one class."""
    plain = build_map(tiny_G, TinyClassifier(), MapConfig(samples=60, batch=25, method="pca"))
    mean = build_map(tiny_G, TinyClassifier(), MapConfig(samples=60, batch=25, method="pca", psi=0.0))
    assert torch.equal(mean.z, plain.z) and mean.psi == 0.0
    assert mean.predicted.unique().numel() == 1 and plain.predicted.unique().numel() > 1
    one_place = build_map(tiny_G, TinyClassifier(), MapConfig(samples=60, batch=25, psi=0.0, tsne=QUICK))
    assert torch.equal(one_place.coords, torch.zeros(60, 2))  # t-SNE of 60 equal points: one place, not NaN
    with pytest.raises(ValueError, match="not finite"):  # NaN features (a diverged generator) are not one place
        tsne(torch.full((60, 8), math.nan), QUICK)


def test_lonely_real_share_finds_real_images_far_from_every_sample():
    samples = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    result = SampleMap(torch.zeros(40, 4), samples, torch.zeros(40, dtype=torch.long), torch.ones(40), neighbours=5)
    assert lonely_real_share(result) is None
    result.real_coords = torch.cat([samples[:6] + 0.01, torch.full((6, 2), 50.0)])  # 6 among samples, 6 alone
    assert lonely_real_share(result) == pytest.approx(0.5)


# -- the Map tab ------------------------------------------------------------------------------------
def select_points(at, chart, points):
    """Send `points` as the chart's selection, as the browser does after a click (AppTest cannot click a plotly
    chart: the selection goes in as the widget's JSON state, so the tab's on_select callback runs as it would)."""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps({"selection": {"points": points, "point_indices": [], "box": [], "lasso": []}})
    return at._run(states)


def test_a_click_on_the_map_loads_that_sample_into_the_sliders(runs_dir, monkeypatch):
    from apptest_helpers import open_page, widget

    from ui.latent_map import PLACEMENTS

    monkeypatch.setattr("ui.latent_map.MapConfig", lambda: MapConfig(samples=120, tsne=QUICK))
    at = open_page("latent")
    widget(at, "map-run").click().run()
    assert not at.exception
    (chart,) = [c for c in at.get("plotly_chart") if c.key == "map-chart-tsne-0"]
    ((_, result),) = [(k, v[0]) for k, v in at.session_state["map-results"].items()]
    select_points(at, chart, [{"curve_number": 0, "point_number": 0, "customdata": [17, 90]}])
    assert not at.exception
    label = f"map sample 17 (read as {result.predicted[17].item()}, {result.confidence[17].item():.0%})"
    assert at.session_state["lat-base"][1] == label
    assert torch.equal(at.session_state["lat-current"], result.z[17])  # the Sliders tab's z is now that sample
    assert any(f"{label}, moved by the sliders" == i.proto.imgs[0].caption for i in at.get("image"))
    assert any("is now in the Sliders tab" in s.value for s in at.success)
    assert at.session_state["lat-tab"] == "Map"  # the map stays open beside the sample
    select_points(at, chart, [{"curve_number": 0, "point_number": 0, "customdata": [-1, 3]}])  # a real image
    assert at.session_state["lat-base"][1] == label
    # The caption says how well the map keeps the digits apart, measured on it, against PCA's placement.
    caption = next(c.value for c in at.caption if "nearest neighbours on this map" in c.value)
    assert f"{result.agreement['tsne']:.0%} of the samples" in caption and "PCA of the same features" in caption
    widget(at, "map-method").set_value(next(p for p in PLACEMENTS if PLACEMENTS[p] == "pca")).run()
    widget(at, "map-run").click().run()
    assert not at.exception and any(c.key == "map-chart-pca-0" for c in at.get("plotly_chart"))
    assert any("principal components 1 and 2" in c.value for c in at.caption)
    # Pictures on the map: samples drawn at their places, spread one per part of the map
    widget(at, "map-pictures").set_value(True).run()
    (chart,) = [c for c in at.get("plotly_chart") if c.key == "map-chart-pca-0"]
    pictures = json.loads(chart.proto.spec)["layout"]["images"]
    assert 10 < len(pictures) <= 144 and all(p["source"].startswith("data:image/png;base64,") for p in pictures)


def test_pictures_spread_one_per_occupied_cell_nearest_its_centre():
    clustered = torch.cat([torch.randn(500, 2) * 0.01, torch.randn(500, 2) * 0.01 + 10])  # two tight clusters
    chosen = pictured_samples(clustered, cells=4)
    assert len(chosen) == 2 and {i // 500 for i in chosen} == {0, 1}  # one per cluster, not 144 on one spot
    grid = torch.tensor([[x, y] for x in range(8) for y in range(8)], dtype=torch.float)
    assert len(pictured_samples(grid, cells=4)) == 16 and pictured_samples(torch.zeros(0, 2), 4) == []
    with_nan = torch.cat([torch.tensor([[math.nan, 0.0]]), clustered])
    assert sorted(i - 1 for i in pictured_samples(with_nan, cells=4)) == sorted(chosen)  # the NaN point is skipped
