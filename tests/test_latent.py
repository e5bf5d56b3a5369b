"""Latent tools: same z same image, interpolation, principal directions, batch-norm statistics, projection, safe
loading."""

import io

import pytest
import torch
from conftest import ROOT
from PIL import Image

from dcgan.config import ModelConfig
from dcgan.errors import CheckpointError
from dcgan.images import gif_bytes
from dcgan.latent.explore import (
    ExplorerConfig,
    batchnorm_mismatch,
    concept_arithmetic,
    generate,
    interpolate,
    interpolation_grid,
    keyframe_walk,
    lerp,
    neighbours,
    prepare_for_exploring,
    principal_directions,
    seeded_z,
    slerp,
)
from dcgan.latent.projection import ProjectionConfig, project, target_from_file
from dcgan.runs.generator_file import export_generator, load_generator

SHIPPED_32 = ROOT / "checkpoints" / "street-digits-32px.pt"


@pytest.fixture(scope="module")
def shipped():
    G, _ = load_generator(SHIPPED_32)
    return G


def test_same_z_gives_the_same_image_alone_and_inside_any_batch(shipped):
    z = seeded_z(7, 1, 100)
    alone = generate(shipped, z)
    for others in (seeded_z(1, 15, 100), seeded_z(2, 63, 100) * 3):
        in_batch = generate(shipped, torch.cat([others[:5], z, others[5:]]))[5:6]
        assert torch.allclose(alone, in_batch, atol=1e-5)


def test_slerp_keeps_endpoints_and_norm_lerp_halves():
    a, b = seeded_z(0, 2, 100)
    b = b / b.norm() * a.norm()  # equal norms: every slerp point keeps that norm
    path = slerp(a, b, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), a.norm().expand(9), rtol=1e-4)
    assert torch.allclose(lerp(a, b, 0.5)[0], (a + b) / 2)
    assert lerp(a, b, 0.5)[0].norm() < 0.9 * a.norm()  # the line cuts through the unlikely middle
    assert torch.allclose(slerp(a, a, [0.3])[0], a)  # parallel vectors fall back to a line
    assert interpolate(a, b, 5, "lerp").shape == (5, 100)


def test_keyframe_walk_loops_through_every_key_and_grid_rows_are_walks():
    keys = seeded_z(3, 4, 100)
    walk = keyframe_walk(keys, steps_per_segment=6, loop=True)
    assert walk.shape == (24, 100)
    for i in range(4):
        assert torch.allclose(walk[6 * i], keys[i], atol=1e-5)
    open_walk = keyframe_walk(keys, 6, loop=False)
    assert open_walk.shape == (19, 100) and torch.allclose(open_walk[-1], keys[-1])
    grid = interpolation_grid(100, rows=3, steps=5, seed=0)
    assert grid.shape == (15, 100) and not torch.allclose(grid[0], grid[5])


def test_arithmetic_averages_each_concept_and_neighbours_stay_close():
    a, b, c = seeded_z(0, 3, 100), seeded_z(1, 2, 100), seeded_z(2, 1, 100)
    result = concept_arithmetic(a, b, c)
    assert torch.allclose(result, a.mean(0) - b.mean(0) + c[0])
    around = neighbours(result, 8, noise_std=0.1)
    assert around.shape == (8, 100) and torch.equal(around[0], result)
    assert ((around[1:] - result).norm(dim=1) < 2).all()


def test_principal_directions_are_orthonormal_and_ordered(shipped):
    found = principal_directions(shipped, ExplorerConfig(pca_samples=1024, pca_components=5))
    d = found.directions
    assert d.shape == (5, 100)
    assert torch.allclose(d @ d.T, torch.eye(5), atol=1e-4)
    assert (found.variance[:-1] >= found.variance[1:]).all() and found.variance.sum() < 1
    # Moving along the first direction changes the image more than moving along a random unit vector.
    z = seeded_z(5, 16, 100)
    base = generate(shipped, z)
    along = (generate(shipped, z + 3 * d[0]) - base).abs().mean()
    random = torch.nn.functional.normalize(seeded_z(9, 1, 100), dim=1)
    across = (generate(shipped, z + 3 * random) - base).abs().mean()
    assert along > across


def test_spoiled_batchnorm_statistics_are_recomputed_at_load(shipped):
    G, _ = load_generator(SHIPPED_32)
    assert prepare_for_exploring(G) is None  # the shipped one is fine as saved
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(3.0)
    cfg = ExplorerConfig(bn_calibration_samples=1024)
    before = batchnorm_mismatch(G, cfg)
    note = prepare_for_exploring(G, cfg)
    assert before > cfg.bn_mismatch_threshold and "recomputed" in note
    assert batchnorm_mismatch(G, cfg) < cfg.bn_mismatch_threshold and not G.training


def test_projection_of_a_generated_image_beats_a_random_z(shipped):
    target = generate(shipped, seeded_z(123, 1, 100))[0]
    found = project(shipped, target, cfg=ProjectionConfig(steps=60, starts=4))
    random_error = (generate(shipped, seeded_z(0, 16, 100)) - target).square().flatten(1).mean(1)
    assert found.pixel_error < random_error.min().item()
    assert torch.allclose(generate(shipped, found.z[None])[0], found.image, atol=1e-5)


def test_uploaded_picture_becomes_a_target_and_a_non_picture_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (50, 40), (255, 0, 0)).save(buffer, format="PNG")
    buffer.seek(0)
    target = target_from_file(buffer, 32, 3)
    assert target.shape == (3, 32, 32) and target[0].min() == 1 and target[1].max() == -1
    with pytest.raises(ValueError, match="not an image"):
        target_from_file(io.BytesIO(b"no picture here"), 32, 3)


def test_uploaded_generator_bytes_load_and_foreign_files_are_refused(tmp_path):
    uploaded = io.BytesIO(SHIPPED_32.read_bytes())
    G, meta = load_generator(uploaded)
    assert meta["dataset"] == "street-digits"
    state = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, state)
    state.seek(0)
    with pytest.raises(CheckpointError, match="not a generator of DCGAN Studio"):
        load_generator(state)
    with pytest.raises(CheckpointError):
        load_generator(io.BytesIO(b"\x00garbage"))


def test_gif_holds_every_frame(tmp_path):
    G, _ = load_generator(SHIPPED_32)
    frames = generate(G, interpolate(*seeded_z(0, 2, 100), steps=7))
    gif = Image.open(io.BytesIO(gif_bytes(frames, scale=2)))
    assert gif.n_frames == 7 and gif.size == (64, 64)
    assert Image.open(io.BytesIO(gif_bytes(frames, bounce=True))).n_frames == 12


def test_generator_from_a_run_is_listed(tmp_path):
    from dcgan.models import build_models
    from dcgan.runs.catalog import run_generators, shipped_generators

    G, _ = build_models(ModelConfig(image_size=16, g_width=8, d_width=8))
    (tmp_path / "my-run").mkdir()
    export_generator(tmp_path / "my-run" / "generator.pt", G, step=1, dataset="street-digits")
    assert [g["name"] for g in run_generators(tmp_path)] == ["my-run"]
    assert {g["name"] for g in shipped_generators()} >= {"street-digits-32px", "street-digits-64px"}
