import os

import pytest
import torch

from dcgan.checkpoint import CheckpointError, export_generator, load_generator
from dcgan.config import ModelConfig
from dcgan.models import build_models


class Exploit:
    """Unpickling this would run a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_never_executes(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "dcgan-studio/generator-v1", "payload": Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="not allowed to load safely"):
        load_generator(path)
    assert not marker.exists()


def test_generator_round_trip_and_config_mismatch(tmp_path):
    G, _ = build_models(ModelConfig(image_size=32, g_width=8, d_width=8))
    path = tmp_path / "g.pt"
    export_generator(path, G, step=7, dataset="street-digits")
    loaded, meta = load_generator(path)
    z = torch.randn(3, 100)
    G.eval()
    assert torch.allclose(loaded(z), G(z)) and meta["step"] == 7 and not loaded.training
    obj = torch.load(path, weights_only=True)
    obj["model"]["g_width"] = 16  # the weights no longer fit the config
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="does not match"):
        load_generator(path)


def test_truncated_file(tmp_path):
    G, _ = build_models(ModelConfig(image_size=16, g_width=8, d_width=8))
    path = tmp_path / "g.pt"
    export_generator(path, G, step=1, dataset="x")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged or cut short"):
        load_generator(path)


@pytest.mark.parametrize("name, size", [("street-digits-32px", 32), ("street-digits-64px", 64)])
def test_shipped_generators_load_safely_and_draw_varied_images(name, size):
    from conftest import ROOT

    G, meta = load_generator(ROOT / "checkpoints" / f"{name}.pt")
    assert meta["dataset"] == "street-digits" and meta["step"] > 5000
    assert all(p.dtype == torch.float32 for p in G.parameters())  # fp16 storage is cast back on load
    with torch.no_grad():
        images = G(torch.randn(16, G.cfg.z_dim, generator=torch.Generator().manual_seed(0)))
    assert images.shape == (16, 3, size, size)
    assert images.std(0).mean() > 0.2  # different z, different images: no collapse to one picture
    assert images.std((1, 2, 3)).min() > 0.1  # each image has contrast (a digit on a background)
