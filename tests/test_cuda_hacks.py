"""The GAN hacks and G's average in the CUDA-graphed step (skipped without a CUDA device): the graph replays
them, and the step count they follow moves on with each replay."""

import pytest
import torch
from conftest import tiny_config

from dcgan.config import ModelConfig, TrainConfig
from dcgan.models import build_models
from dcgan.runs.checkpoint import load_checkpoint
from dcgan.runs.manage import create_run
from dcgan.train.ema import GeneratorEma
from dcgan.train.gan_step import GanStep, GraphedStep, make_optimizers
from dcgan.train.hacks import StepHacks
from dcgan.train.trainer import train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
HACKS = dict(d_steps=2, lr_g=1e-4, lr_d=4e-4, label_flip=0.1, instance_noise=0.1, ema_half_life=500)


def test_the_graphed_step_replays_the_hacks_and_counts_steps_on_the_device():
    cuda = torch.device("cuda")
    G, D = build_models(ModelConfig(image_size=16, g_width=8, d_width=8).resolved())
    G, D = G.to(cuda), D.to(cuda)
    opt_g, opt_d = make_optimizers(G, D, TrainConfig(), cuda, graphed=True)
    ema = GeneratorEma(G, 500, 8)
    hacks = StepHacks(d_steps=2, label_flip=0.5, instance_noise=0.3, noise_decay_steps=6)
    step = GraphedStep(
        GanStep(G, D, opt_g, opt_d, z_dim=100, real_label=1.0, autocast_dtype=None, device=cuda, hacks=hacks, ema=ema)
    )
    real = torch.rand(8, 3, 16, 16, device=cuda) * 2 - 1
    for _ in range(GraphedStep.WARMUP_STEPS + 5):
        step(real)
    assert step.graph is not None and step.step.steps_done.item() == GraphedStep.WARMUP_STEPS + 5
    assert hacks.noise_std(step.step.steps_done).item() == 0.0  # the schedule has run out, counted by the replays
    assert all(torch.isfinite(torch.tensor(list(step.read_stats().values()))))
    assert not all(torch.equal(a, b) for a, b in zip(ema.module.parameters(), G.parameters()))


def test_a_graphed_run_with_every_switch_finishes_and_resumes(runs_dir):
    run = create_run(tiny_config("cuda-hacks", device="cuda", epochs=2, score_samples=0, **HACKS))
    calls = {"n": 0}
    assert train_run(run, abort_fn=lambda: calls.__setitem__("n", calls["n"] + 1) or calls["n"] >= 12)["step"] == 12
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 16
    assert "generator_ema" in load_checkpoint(run.checkpoint_path)
