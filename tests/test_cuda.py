"""A tiny run on a real GPU: it finishes (CUDA graph, bf16 autocast, checkpoints copied off the device in the
background), and what it writes is read on a machine without one. Skipped where there is no CUDA device (CI)."""

import pytest
import torch
from conftest import tiny_config

from dcgan.cli import main
from dcgan.models import build_models
from dcgan.runs.checkpoint import load_checkpoint
from dcgan.runs.generator_file import load_generator
from dcgan.runs.manage import create_run
from dcgan.train.trainer import train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.fixture()
def cuda_run(runs_dir):
    run = create_run(tiny_config("on-cuda", device="cuda", epochs=2))  # 8 steps an epoch
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 16, final
    return run


def test_a_tiny_run_on_cuda_finishes_with_its_device_and_metrics(cuda_run):
    assert cuda_run.read_config()["device_used"].startswith("cuda")
    records = cuda_run.read_metrics().records
    assert [r["step"] for r in records] == [1, *range(2, 17, 2)]  # the first step after a start, then every log_every
    assert all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in records)
    assert cuda_run.lock_owner() is None


def test_its_checkpoint_loads_into_cpu_networks(cuda_run):
    checkpoint = load_checkpoint(cuda_run.checkpoint_path)  # map_location cpu, weights_only
    assert checkpoint["step"] == 16 and "cuda" in checkpoint["rng"]
    tensors = [v for net in ("generator", "discriminator") for v in checkpoint[net].values()]
    assert all(v.device.type == "cpu" and torch.isfinite(v.float()).all() for v in tensors)
    G, D = build_models(cuda_run.read_run_config().model)
    G.load_state_dict(checkpoint["generator"])
    D.load_state_dict(checkpoint["discriminator"])
    G.eval()
    with torch.no_grad():
        assert D(G(checkpoint["fixed_z"][:4])).shape == (4, 1)


def test_its_exported_generator_draws_on_the_cpu_and_from_the_terminal(cuda_run, capsys, tmp_path):
    G, meta = load_generator(cuda_run.generator_path)  # on the CPU by default
    assert meta["step"] == 16 and next(G.parameters()).device.type == "cpu"
    with torch.no_grad():
        images = G.eval()(torch.randn(4, 100))
    assert images.shape == (4, 3, 16, 16) and torch.isfinite(images).all()
    grid = tmp_path / "grid.png"
    code = main(["sample", str(cuda_run.generator_path), "-n", "4", "-o", str(grid)])
    assert code == 0 and grid.exists(), capsys.readouterr().err


def test_a_cuda_run_resumes_on_the_cpu(cuda_run):
    raw = cuda_run.read_config()
    raw["train"].update(device="cpu", epochs=3)  # device is not a setting a resume must keep
    cuda_run.write_config(raw)
    final = train_run(cuda_run)
    assert final["state"] == "finished" and final["step"] == 24
    assert [r["step"] for r in cuda_run.read_metrics().records] == [
        1,
        *range(2, 25, 2),
    ]  # a resume logs every log_every
