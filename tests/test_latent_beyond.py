"""Issue 17's engine: SeFa, classifier directions, saved directions, truncation, the map, the memorisation check
and the batch-norm modes."""

import json

import pytest
import torch
from torch import nn

from dcgan.config import ModelConfig
from dcgan.latent.batchnorm_modes import batch_dependence, generate_in_batch_mode, generate_in_mode, recalibrated_copy
from dcgan.latent.class_directions import ClassDirectionConfig, conditional_direction, fit_boundaries
from dcgan.latent.directions import first_layer_matrix, sefa_directions, strip_z
from dcgan.latent.explore import generate
from dcgan.latent.memorisation import compare_errors, nearest_by_features, nearest_by_pixels
from dcgan.latent.saved_directions import (
    DirectionsFileError,
    delete_direction,
    directions_file,
    load_directions,
    save_direction,
)
from dcgan.latent.truncation import mean_pairwise_distance, truncate
from dcgan.models import Generator, build_models, seeded_z


@pytest.fixture(scope="module")
def small_G():
    G, _ = build_models(ModelConfig(image_size=16, z_dim=12, g_width=8, d_width=8))
    return G.eval()


# -- SeFa ----------------------------------------------------------------------------------------------
def test_sefa_directions_are_the_top_eigenvectors_of_the_first_layer(small_G):
    found = sefa_directions(small_G, count=4)
    A = small_G.project.weight.detach().double()  # (out, z_dim)
    values, vectors = torch.linalg.eigh(A.T @ A)
    for i in range(4):
        expected = vectors[:, -1 - i].float()
        assert abs(torch.dot(found.directions[i], expected)) == pytest.approx(1.0, abs=1e-4)  # same up to sign
        assert f"{values[-1 - i].item():.3g}" in found.labels[i]
    assert torch.allclose(found.directions @ found.directions.T, torch.eye(4), atol=1e-5)


def test_first_layer_matrix_reads_a_transposed_convolution_that_takes_z():
    class ConvFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = ModelConfig(z_dim=5)
            self.first = nn.ConvTranspose2d(5, 3, 4)

    net = ConvFirst()
    A = first_layer_matrix(net)
    z = torch.randn(2, 5)
    out = nn.functional.conv_transpose2d(z[:, :, None, None], net.first.weight)  # (2, 3, 4, 4), no bias
    assert A.shape == (48, 5) and torch.allclose(out.flatten(1), z @ A.T, atol=1e-5)


def test_strip_runs_from_minus_to_plus_three_sigma_along_a_unit_direction():
    z, d = torch.zeros(4), torch.tensor([0.0, 2.0, 0.0, 0.0])
    strip = strip_z(z, d, steps=7)
    assert strip[:, 1].tolist() == pytest.approx([-3, -2, -1, 0, 1, 2, 3]) and strip[:, 0].abs().sum() == 0


# -- classifier directions -----------------------------------------------------------------------------------
def test_class_boundary_normal_points_toward_its_class_on_a_toy_setup():
    # Toy "classifier": the class is which of three fixed directions z leans along most.
    truth = torch.linalg.qr(torch.randn(8, 3, generator=torch.Generator().manual_seed(0)))[0].T  # (3, 8) orthonormal
    z = seeded_z(1, 3000, 8)
    labels = (z @ truth.T).argmax(1)
    found = fit_boundaries(z, labels, 3, ClassDirectionConfig(steps=50))
    fresh = seeded_z(2, 500, 8)
    for c in range(3):
        before = ((fresh @ truth.T).argmax(1) == c).float().mean()
        after = (((fresh + 3 * found.normals[c]) @ truth.T).argmax(1) == c).float().mean()
        assert after > before + 0.4 and found.accuracy[c] > 0.75


def test_conditional_direction_has_no_component_along_the_other_classes():
    normals = torch.nn.functional.normalize(torch.randn(4, 10, generator=torch.Generator().manual_seed(3)), dim=1)
    d = conditional_direction(normals, 0, [0, 2, 3])
    assert d.norm() == pytest.approx(1.0, abs=1e-5)
    assert abs(torch.dot(d, normals[2])) < 1e-5 and abs(torch.dot(d, normals[3])) < 1e-5
    assert torch.dot(d, normals[0]) > 0
    assert torch.equal(conditional_direction(normals, 1, [1]), normals[1])


# -- saved directions ----------------------------------------------------------------------------------------
def test_saved_directions_roundtrip_and_refuse_a_taken_name(tmp_path):
    path = tmp_path / "directions.json"
    vector = torch.arange(6.0)
    save_direction(path, " bolder ", vector, "SeFa 1", "run-a")
    save_direction(path, "thinner", -vector, "PCA 2", "run-a")
    loaded = load_directions(path, 6)
    assert [d.name for d in loaded] == ["bolder", "thinner"]
    assert torch.allclose(loaded[0].vector, vector / vector.norm(), atol=1e-6) and loaded[1].family == "PCA 2"
    with pytest.raises(DirectionsFileError, match="already saved"):
        save_direction(path, "bolder", vector, "", "run-a")
    assert [d.name for d in delete_direction(path, "bolder", 6, "run-a")] == ["thinner"]


def _directions_json(*entries) -> str:
    return json.dumps({"format": "dcgan-studio-directions", "version": 1, "directions": list(entries)})


@pytest.mark.parametrize(
    "content, message",
    [
        ("{oops", "cannot be read as JSON"),
        (json.dumps({"format": "something else"}), "not a saved-directions file"),
        (_directions_json({"name": "a", "vector": [1, 2]}), "has 2 numbers, but this generator's z has 6"),
        (_directions_json({"name": "a", "vector": [1, "x", 0, 0, 0, 0]}), "not a finite number"),
        (_directions_json({"vector": [1] * 6}), "has no name"),
    ],
)
def test_bad_directions_files_give_a_clear_error_and_are_never_overwritten(tmp_path, content, message):
    path = tmp_path / "directions.json"
    path.write_text(content)
    with pytest.raises(DirectionsFileError, match=message) as err:
        load_directions(path, 6)
    assert str(path) in str(err.value) and "delete it" in str(err.value)
    with pytest.raises(DirectionsFileError):
        save_direction(path, "new", torch.ones(6), "", "x")
    assert path.read_text() == content


def test_directions_live_beside_a_run_and_in_the_runs_folder_for_other_files(tmp_path):
    runs = tmp_path / "runs"
    assert directions_file(runs / "r1" / "generator.pt", "r1", "abc", runs) == runs / "r1" / "directions.json"
    shipped = directions_file(tmp_path / "checkpoints" / "g.pt", "g", "abc", runs)
    assert shipped == runs / ".latent-directions" / "g-abc.json"


# -- truncation ----------------------------------------------------------------------------------------------
def test_truncation_at_zero_gives_the_mean_and_at_one_the_plain_sample(small_G):
    z = seeded_z(0, 5, 12)
    assert torch.equal(truncate(z, 1.0), z) and torch.equal(truncate(z, 0.0), torch.zeros_like(z))
    mean = torch.full((12,), 0.5)
    assert torch.allclose(truncate(z, 0.0, mean), mean.expand(5, -1))
    assert torch.allclose(truncate(z, 0.5), z / 2)
    images = generate(small_G, truncate(z, 0.0))
    assert torch.allclose(images, images[:1].expand_as(images))  # every z gives the mean's image


def test_mean_pairwise_distance_is_zero_for_copies_and_grows_with_spread():
    same = torch.ones(10, 4)
    assert mean_pairwise_distance(same) == 0
    spread = torch.eye(4)
    assert mean_pairwise_distance(spread) == pytest.approx(2**0.5)


# -- memorisation --------------------------------------------------------------------------------------------
def test_nearest_images_find_the_copy_first():
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    index, distance = nearest_by_pixels(images[13], images, k=3)
    assert index[0] == 13 and distance[0] == 0 and distance[1] > 0
    features = torch.randn(20, 5)
    index, _ = nearest_by_features(features[4] + 1e-3, features, k=2)
    assert index[0] == 4


def test_reconstruction_gap_numbers_on_a_toy_case():
    train, held_out = torch.full((40,), 0.01), torch.full((40,), 0.03)
    train[::2], held_out[::2] = 0.012, 0.032  # a little spread, so the standard error is finite
    result = compare_errors(train, held_out)
    assert result.gap == pytest.approx(0.020, abs=1e-6) and result.ratio == pytest.approx(0.031 / 0.011, rel=1e-4)
    assert result.reliable and result.clear and result.verdict().startswith("Signs of memorisation")
    same = compare_errors(train, train.flip(0))
    assert not same.clear and same.verdict().startswith("No sign")
    few = compare_errors(train[:5], held_out[:5])
    assert not few.reliable and few.verdict().startswith("Cannot tell")


def test_the_projection_check_compares_as_many_images_of_each_set_as_the_smaller_has(small_G):
    from dcgan.latent.memorisation import MemorisationConfig, reconstruction_gap

    images = torch.rand(60, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    result = reconstruction_gap(small_G, images[:10], images[10:], MemorisationConfig(images=40, steps=2))
    assert len(result.train_errors) == len(result.held_out_errors) == 10  # a run of 10 images: 10 + 10, not 10 + 40


# -- batch norm modes ----------------------------------------------------------------------------------------
def test_train_mode_depends_on_the_batch_mates_and_leaves_the_running_statistics(small_G):
    z = seeded_z(5, 1, 12)
    saved = {k: v.clone() for k, v in small_G.state_dict().items()}
    a, b = generate_in_batch_mode(small_G, z, 1), generate_in_batch_mode(small_G, z, 2)
    assert not torch.allclose(a, b, atol=1e-4)
    assert torch.equal(generate_in_batch_mode(small_G, z, 1), a)
    assert all(torch.equal(v, small_G.state_dict()[k]) for k, v in saved.items()) and not small_G.training
    assert torch.equal(generate_in_mode(small_G, z, "running"), generate(small_G, z))
    images, difference = batch_dependence(small_G, z[0], [(1, 63), (2, 3)])
    assert images.shape[0] == 2 and difference > 0


def test_recomputed_statistics_are_a_copy(small_G):
    before = small_G.project_norm.running_mean.clone()
    copy = recalibrated_copy(small_G)
    assert isinstance(copy, Generator) and copy is not small_G
    assert torch.equal(small_G.project_norm.running_mean, before)
    assert not torch.equal(copy.project_norm.running_mean, before)
