"""Issue 17's memorisation check on real loading paths: exactly the training images a generator saw (street-digits'
partial last block), which generator files name their drawing, the samples-nearer-their-training-images test,
and the latent tools from the terminal (`python -m dcgan latent ...`)."""

import pytest
import torch
from conftest import tiny_config
from PIL import Image
from torch import nn

from dcgan.cli import main
from dcgan.config import DataConfig, ModelConfig
from dcgan.data.loading import DRAWING_KEY, drawing_version, load_first_images, load_images
from dcgan.latent.memorisation import NearestPoolConfig, nearest_pool_test
from dcgan.latent.real_images import data_config_of

SHIPPED = "street-digits-32px"


# -- the images a generator saw --------------------------------------------------------------------------------
def test_first_images_are_exactly_the_first_of_the_set_the_run_trained_on(data_dir):
    two_blocks = DataConfig(dataset="street-digits", limit=2048)
    whole = load_images(two_blocks, 16, 3).images
    first = load_first_images(two_blocks, 1000, 16, 3)
    assert len(first) == 1000 and torch.equal(first.images, whole[:1000]) and len(first.labels) == 1000
    # Why a plain limit is not enough: 1,000 street-digits are a partial block, drawn as other images.
    assert not torch.equal(load_images(DataConfig(dataset="street-digits", limit=1000), 16, 3).images, whole[:1000])
    small = DataConfig(dataset="street-digits", limit=300)  # a run on 300 images: their first 100 are its own
    assert torch.equal(load_first_images(small, 100, 16, 3).images, load_images(small, 16, 3).images[:100])
    assert len(load_first_images(small, 0, 16, 3)) == 300 == len(load_first_images(small, 5000, 16, 3))


def test_a_street_digits_file_must_name_the_drawing_it_was_trained_on(tmp_path):
    meta = {"dataset": "street-digits"}
    _, source, exact = data_config_of(meta, tmp_path / "elsewhere.pt")  # the shipped files name none
    assert not exact and "older drawing" in source
    _, _, exact = data_config_of({**meta, **drawing_version("street-digits")}, None)
    assert exact
    _, source, exact = data_config_of({**meta, DRAWING_KEY: 1}, None)
    assert not exact and "drawing 1" in source
    assert data_config_of({"dataset": "mnist"}, None)[2]  # torchvision sets have one version of their files


def test_a_runs_generator_file_names_its_drawing_and_the_run_config_gives_its_images(runs_dir):
    from dcgan.runs.generator_file import load_generator
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    run = create_run(tiny_config("drawn"))
    assert train_run(run)["state"] == "finished"
    _, meta = load_generator(run.generator_path)
    assert meta[DRAWING_KEY] == drawing_version("street-digits")[DRAWING_KEY]
    data, source, exact = data_config_of(meta, run.generator_path)
    assert exact and data.limit == 256 and "run drawn" in source


# -- samples nearer their training images? ---------------------------------------------------------------------
class ImagePicker(nn.Module):
    """A stand-in generator that draws one of `images` for each z (chosen by z's first entry): a pure copier."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.cfg = ModelConfig(image_size=images.shape[-1], z_dim=4)
        self.images = images.float() / 127.5 - 1
        self.anchor = nn.Parameter(torch.zeros(1))  # generate() reads the device from a parameter

    def forward(self, z):
        index = (z[:, 0].abs() * 1000).long() % len(self.images)
        return self.images[index]


def random_images(count: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_a_copier_lies_nearer_its_training_images_and_a_learner_does_not():
    train, held_out, unseen = random_images(100, 0), random_images(100, 1), random_images(100, 2)
    cfg = NearestPoolConfig(samples=400, pool=100, batch=150)
    ticks = []
    copier = nearest_pool_test(ImagePicker(train), train, held_out, cfg, lambda done, total: ticks.append(done))
    assert copier.share_nearer_training == 1.0 and copier.clear and copier.verdict().startswith("Signs of copying")
    assert ticks == [150, 300, 400]
    learner = nearest_pool_test(ImagePicker(unseen), train, held_out, cfg)  # new images of the same kind
    assert 0.35 < learner.share_nearer_training < 0.65 and not learner.clear
    assert learner.verdict().startswith("No sign of copying")
    few = nearest_pool_test(ImagePicker(train), train[:10], held_out, cfg)
    assert few.pool == 10 and not few.reliable and few.verdict().startswith("Cannot tell")


# -- from the terminal -------------------------------------------------------------------------------------
def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_directions_print_their_eigenvalues_and_write_strips(capsys, runs_dir, tmp_path):
    strips = tmp_path / "sefa.png"
    code, out, _ = run_cli(capsys, "latent", "directions", SHIPPED, "--count", "2", "-o", str(strips))
    assert code == 0 and "SeFa 1 (eigenvalue" in out and "SeFa 2 (eigenvalue" in out and "SeFa 3" not in out
    assert Image.open(strips).size[1] > Image.open(strips).size[0] / 7 * 1.5  # two rows of 7 images


def test_the_memorisation_check_runs_on_a_run_from_the_terminal(capsys, runs_dir):
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    assert train_run(create_run(tiny_config("mem")))["state"] == "finished"
    code, out, _ = run_cli(capsys, "latent", "memorisation", "mem", "--samples", "64", "--images", "4", "--steps", "5")
    assert code == 0, out
    assert "run mem's config.json" in out and "of 64 samples lie nearer a training image" in out
    assert "Cannot tell from so few images" in out  # 4 projected images: no call


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("directions", "nonesuch"), "no generator 'nonesuch'"),
        (("directions", SHIPPED, "--count", "0"), "--count must be at least 1"),
        (("directions", SHIPPED, "-o", "strips.jpg"), "must end in .png"),
        (("map", SHIPPED, "-o", "/no/such/folder/map.csv"), "does not exist"),
        (("truncation", SHIPPED, "--psi", "1.5"), "--psi must be from 0 to 1"),
        (("map", SHIPPED, "--psi", "-0.1"), "--psi must be from 0 to 1"),
        (("class-direction", SHIPPED, "--to", "10"), "--to must be a class from 0 to 9"),
        (("memorisation", SHIPPED), "cannot check copying"),
    ],
)
def test_bad_input_to_the_latent_tools_exits_2_with_one_line(capsys, runs_dir, tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "latent", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [] or not any(p.suffix in (".png", ".csv") for p in tmp_path.iterdir())


def test_a_run_without_a_generator_file_yet_says_when_it_comes(capsys, runs_dir):
    from dcgan.runs.manage import create_run

    create_run(tiny_config("young"))
    code, _, err = run_cli(capsys, "latent", "directions", "young")
    assert code == 2 and "has no generator.pt yet" in err and "finishes or is stopped" in err
