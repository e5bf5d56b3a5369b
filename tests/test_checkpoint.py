import io
import os
import time
import zipfile

import pytest
import torch

from dcgan.config import ModelConfig, RunConfig
from dcgan.errors import CheckpointError
from dcgan.fileio import atomic_save_torch
from dcgan.models import build_models
from dcgan.runs.checkpoint import checkpoint_state, load_checkpoint
from dcgan.runs.generator_file import export_generator, load_generator

TINY = ModelConfig(image_size=16, g_width=8, d_width=8, z_dim=16)
FAST_S = 1.0  # a refusal that builds nothing takes milliseconds; building a 2800-wide network took seconds


def tiny_generator_file(path, model: ModelConfig = TINY):
    torch.manual_seed(0)
    G, _ = build_models(model)
    export_generator(path, G, step=3, dataset="street-digits", extra={"run": "tiny", "epochs": 1.0})
    return path


def edited(path, change) -> None:
    """Apply `change` to the file's dict and write it back, as someone editing a generator file would."""
    obj = torch.load(path, weights_only=True)
    change(obj)
    torch.save(obj, path)


def refusal(source, **kwargs) -> str:
    """The message load_generator refuses `source` with; it must be one line."""
    with pytest.raises(CheckpointError) as caught:
        load_generator(source, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


class Exploit:
    """Unpickling this would run a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_never_executes_and_the_refusal_is_a_whole_sentence(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "dcgan-studio/generator-v1", "payload": Exploit(marker)}, path)
    message = refusal(path)
    assert not marker.exists()
    assert "not allowed to load safely" in message
    assert f"{os.system.__module__}.system" in message  # names what it asked for: posix.system on Linux
    assert message.endswith("load files only from people you trust")  # not cut mid-sentence
    assert "Weights only load failed" not in message  # torch's page-long explanation stays out


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


def test_generator_file_round_trip_keeps_its_metadata_and_checked_settings(tmp_path):
    path = tiny_generator_file(tmp_path / "g.pt")
    edited(
        path,
        lambda obj: obj["state_dict"].update(
            {k: v.half() for k, v in obj["state_dict"].items() if v.is_floating_point()}
        ),
    )  # stored at half precision
    G, meta = load_generator(path)
    assert all(p.dtype == torch.float32 for p in G.parameters())
    assert (meta["step"], meta["dataset"], meta["run"]) == (3, "street-digits", "tiny")
    assert meta["model"]["g_width"] == 8 and "state_dict" not in meta


def test_a_width_beyond_the_bounds_is_refused_before_anything_is_built(tmp_path):
    path = tiny_generator_file(tmp_path / "wide.pt")
    edited(path, lambda obj: obj["model"].update(g_width=2800))  # once: 5.5 GB allocated, then refused
    started = time.perf_counter()
    message = refusal(path)
    assert time.perf_counter() - started < FAST_S
    assert "g width" in message and "2800" in message and "512" in message and "wide.pt" in message


def test_a_text_file_named_pt_is_refused_by_name(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are my notes, not a generator\n")
    message = refusal(path)
    assert "notes.pt" in message and "not a PyTorch file" in message and "KeyError" not in message


def test_an_upload_is_named_by_its_file_name_not_its_buffer(tmp_path):
    message = refusal(io.BytesIO(b"plain text"), name="my-generator.pt")
    assert message.startswith("my-generator.pt ") and "BytesIO" not in message
    assert "BytesIO" not in refusal(io.BytesIO(b"plain text"))  # no name given: "the uploaded file"


@pytest.mark.parametrize(
    "tensor, value",
    [
        ("project.weight", float("nan")),
        ("blocks.0.0.weight", float("inf")),
        ("project_norm.running_var", float("-inf")),
    ],
)
def test_non_finite_weights_and_buffers_are_refused(tmp_path, tensor, value):
    path = tiny_generator_file(tmp_path / "diverged.pt")
    edited(path, lambda obj: obj["state_dict"][tensor].view(-1).__setitem__(0, value))
    message = refusal(path)
    assert "NaN or infinite" in message and repr(tensor) in message and "diverged.pt" in message


def test_finite_weights_that_overflow_to_nan_images_are_refused(tmp_path):
    path = tiny_generator_file(tmp_path / "huge.pt", ModelConfig(image_size=16, g_width=8, z_dim=16, g_batchnorm=False))
    edited(path, lambda obj: [w.mul_(1e30) for k, w in obj["state_dict"].items() if k.endswith("weight")])
    assert "NaN or infinite pixels" in refusal(path)


def test_settings_that_do_not_fit_the_weights_are_refused(tmp_path):
    path = tiny_generator_file(tmp_path / "g.pt")
    edited(path, lambda obj: obj["model"].update(g_width=16))
    message = refusal(path)
    assert "does not match its own model settings" in message and "'project.weight' has shape" in message


def test_a_compressed_archive_is_refused_before_torch_reads_it(tmp_path):
    """torch.load would inflate a compressed record to whatever size it claims: a zip bomb."""
    path = tiny_generator_file(tmp_path / "g.pt")
    packed = tmp_path / "packed.pt"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for record in source.namelist():
            target.writestr(record, source.read(record))
    assert "is compressed" in refusal(packed)


def tiny_checkpoint(path):
    torch.manual_seed(0)
    config = RunConfig(model=TINY)
    G, D = build_models(TINY)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    atomic_save_torch(
        path,
        checkpoint_state(
            config=config,
            G=G,
            D=D,
            opt_g=opt_g,
            opt_d=opt_d,
            step=5,
            fixed_z=torch.randn(4, TINY.z_dim),
            rng={"torch": torch.get_rng_state()},
            elapsed_s=1.5,
        ),
    )
    return path


def test_a_training_checkpoint_given_as_a_generator_points_to_generator_pt(tmp_path):
    path = tiny_checkpoint(tmp_path / "checkpoint.pt")
    message = refusal(path)
    assert "is a training checkpoint, not a generator" in message and "generator.pt" in message


def test_checkpoint_round_trip_and_missing_or_mistyped_fields_name_the_file(tmp_path):
    path = tiny_checkpoint(tmp_path / "checkpoint.pt")
    assert load_checkpoint(path)["step"] == 5
    for change, expected in (
        (lambda c: c.pop("generator"), "has no 'generator'"),
        (lambda c: c.update(step="five"), "holds 'five' as 'step'"),
        (lambda c: c["discriminator"].update(extra=[1]), "discriminator weight 'extra'"),
        (lambda c: c.update(rng={}), "random-number state"),
    ):
        damaged = tmp_path / "damaged" / "checkpoint.pt"
        damaged.parent.mkdir(exist_ok=True)
        damaged.write_bytes(path.read_bytes())
        edited(damaged, change)
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(damaged)
        assert str(damaged) in str(caught.value) and expected in str(caught.value), str(caught.value)
