"""Issue 16's 'generator worth keeping' and GAN hacks: each switch changes the step as it says, G's average (EMA),
best_generator.pt, per-epoch snapshots and rolling back to one (CLI and engine)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import finished_three_epoch_run, tiny_config

from dcgan.config import ModelConfig, RunConfig, TrainConfig
from dcgan.errors import ConfigError
from dcgan.models import build_models
from dcgan.runs.checkpoint import load_checkpoint
from dcgan.runs.generator_file import load_generator
from dcgan.runs.manage import create_run
from dcgan.runs.snapshots import (
    SnapshotKeeping,
    roll_back,
    snapshot_epochs,
    snapshot_path,
    snapshots_to_drop,
    suggest_epoch,
)
from dcgan.train.ema import EMA_RAMPUP, GeneratorEma
from dcgan.train.gan_step import GanStep, make_optimizers
from dcgan.train.hacks import StepHacks
from dcgan.train.trainer import train_run

CPU = torch.device("cpu")


def tiny_step(hacks: StepHacks, lr: float = 2e-4, start_step: int = 0, ema=None):
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(image_size=16, g_width=8, d_width=8).resolved())
    opt_g, opt_d = make_optimizers(G, D, TrainConfig(lr=lr), CPU, graphed=False)
    step = GanStep(
        G, D, opt_g, opt_d, z_dim=100, real_label=0.9, autocast_dtype=None, device=CPU, hacks=hacks,
        ema=ema, start_step=start_step,
    )  # fmt: skip
    return step, torch.rand(8, 3, 16, 16) * 2 - 1


# -- the switches ----------------------------------------------------------------------------------------------
def test_two_d_steps_update_d_twice_per_g_update_each_on_fresh_fakes():
    step, real = tiny_step(StepHacks(d_steps=2))
    calls = {"d": 0, "g": 0, "G": 0}
    for name, opt in (("d", step.opt_d), ("g", step.opt_g)):
        original = opt.step
        opt.step = lambda *a, _o=original, _n=name, **k: (calls.__setitem__(_n, calls[_n] + 1), _o(*a, **k))[1]
    forward = step.G.forward
    step.G.forward = lambda z: (calls.__setitem__("G", calls["G"] + 1), forward(z))[1]
    step(real)
    step(real)
    assert calls == {"d": 4, "g": 2, "G": 4}  # a fresh batch of fakes for each D update


def test_label_flip_of_one_swaps_every_target_and_zero_none():
    logits = torch.zeros(1000)
    real, fake = StepHacks(label_flip=1.0).targets(logits, 0.9)
    assert torch.all(real == 0) and torch.all(fake == 0.9)
    real, fake = StepHacks().targets(logits, 0.9)
    assert torch.all(real == 0.9) and torch.all(fake == 0)
    real, _ = StepHacks(label_flip=0.3).targets(logits, 1.0)
    assert 0.25 < (real == 0).float().mean() < 0.35


def test_the_step_trains_d_on_the_flipped_targets():
    """With every label flipped and no learning (lr 0), the logged D loss is BCE(D(x), 0) + BCE(D(G(z)), 0.9)."""
    step, real = tiny_step(StepHacks(label_flip=1.0), lr=0.0)
    torch.manual_seed(5)
    step(real)
    torch.manual_seed(5)
    with torch.no_grad():
        d_real, d_fake = step.D(real).flatten(), step.D(step.G(torch.randn(8, 100))).flatten()
    expected = F.binary_cross_entropy_with_logits(d_real, torch.zeros(8)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.full((8,), 0.9)
    )
    assert step.read_stats()["d_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_instance_noise_falls_linearly_to_zero_by_its_schedule():
    hacks = StepHacks(instance_noise=0.2, noise_decay_steps=10)
    stds = [hacks.noise_std(torch.tensor(s)).item() for s in (0, 5, 10, 30)]
    assert stds == pytest.approx([0.2, 0.1, 0.0, 0.0])
    assert StepHacks().noise_std(torch.tensor(0)) is None  # off: no noise drawn at all
    assert StepHacks.of(TrainConfig(instance_noise=0.1, instance_noise_epochs=2.5), 8).noise_decay_steps == 20


@pytest.mark.parametrize("start_step, noisy", [(0, True), (10, False)])
def test_d_sees_noisy_images_until_the_noise_has_faded(start_step, noisy):
    step, real = tiny_step(StepHacks(instance_noise=0.5, noise_decay_steps=10), start_step=start_step)
    seen = []
    forward = step.D.forward
    step.D.forward = lambda x: (seen.append(x.detach().clone()), forward(x))[1]
    step(real)
    assert torch.equal(seen[0], real) is not noisy
    assert step.steps_done.item() == start_step + 1  # the schedule's clock moves on with each step


def test_ttur_learning_rates_reach_each_optimizer_and_zero_means_lr():
    G, D = build_models(ModelConfig(image_size=16, g_width=8, d_width=8).resolved())
    opt_g, opt_d = make_optimizers(G, D, TrainConfig(lr=2e-4, lr_g=1e-4, lr_d=4e-4), CPU, graphed=False)
    assert opt_g.param_groups[0]["lr"] == 1e-4 and opt_d.param_groups[0]["lr"] == 4e-4
    opt_g, opt_d = make_optimizers(G, D, TrainConfig(lr=3e-4), CPU, graphed=False)
    assert opt_g.param_groups[0]["lr"] == opt_d.param_groups[0]["lr"] == 3e-4


@pytest.mark.parametrize(
    "setting, value, words",
    [("d_steps", 0, "D steps"), ("label_flip", 1.5, "probability"), ("lr_d", -1, "lr d"), ("ema_half_life", -5, "EMA")],
)
def test_bad_switches_are_refused_in_words(setting, value, words):
    with pytest.raises(ConfigError, match=words):
        tiny_config(**{setting: value}).validate()


def test_an_old_config_without_the_switches_loads_with_todays_behaviour():
    old = RunConfig().to_dict()
    for name in ("d_steps", "lr_g", "lr_d", "label_flip", "instance_noise", "instance_noise_epochs", "ema_half_life"):
        del old["train"][name]
    t = RunConfig.from_dict(old).validate().train
    assert (t.d_steps, t.lr_g, t.lr_d, t.label_flip, t.instance_noise, t.ema_half_life) == (1, 0, 0, 0, 0, 0)


# -- G's average -----------------------------------------------------------------------------------------------
def test_ema_moves_by_stylegan2s_beta_with_its_ramp_and_copies_batch_norm_statistics():
    G, _ = build_models(ModelConfig(image_size=16, g_width=8, d_width=8).resolved())
    ema = GeneratorEma(G, half_life_images=1000, batch_size=32)
    before = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        for b in G.buffers():
            b.add_(3)
    steps = torch.tensor(1000)  # 32,000 images seen: the ramp (5% = 1,600) is past the half-life of 1,000
    beta = ema.beta(steps).item()
    assert beta == pytest.approx(0.5 ** (32 / 1000))
    assert ema.beta(torch.tensor(1)).item() == pytest.approx(0.5 ** (32 / (32 * EMA_RAMPUP)))  # early: ~G itself
    ema.update(steps)
    for old, new, current in zip(before, ema.module.parameters(), G.parameters()):
        assert torch.allclose(new, beta * old + (1 - beta) * current, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(ema.module.buffers(), G.buffers()))


HACKS = dict(d_steps=2, lr_g=1e-4, lr_d=4e-4, label_flip=0.1, instance_noise=0.1, ema_half_life=500)


def test_a_stopped_and_resumed_run_with_every_switch_equals_an_uninterrupted_one(runs_dir):
    """The noise schedule's clock, the EMA and its ramp continue from the checkpoint, not from 0."""
    whole = create_run(tiny_config("whole", epochs=2, score_samples=0, **HACKS))
    train_run(whole)
    parts = create_run(tiny_config("parts", epochs=2, score_samples=0, **HACKS))
    calls = {"n": 0}
    # Late in the run, so the average's memory (its ramp is short this early) spans the resume.
    stopped = train_run(parts, abort_fn=lambda: calls.__setitem__("n", calls["n"] + 1) or calls["n"] >= 14)
    assert stopped["state"] == "stopped" and stopped["step"] == 14
    assert "generator_ema" in load_checkpoint(parts.checkpoint_path)
    train_run(parts)
    a, b = load_checkpoint(whole.checkpoint_path), load_checkpoint(parts.checkpoint_path)
    for net in ("generator", "discriminator", "generator_ema"):
        assert all(torch.allclose(a[net][k].float(), b[net][k].float(), atol=1e-5) for k in a[net]), net
    assert not all(torch.equal(a["generator"][k], a["generator_ema"][k]) for k in a["generator"])
    config = json.loads(whole.config_path.read_text())["train"]  # recorded for comparisons
    assert {k: config[k] for k in HACKS} == HACKS
    _, meta = load_generator(whole.generator_path)
    exported = torch.load(whole.generator_path, weights_only=True)["state_dict"]
    assert meta["step"] == 16 and all(torch.equal(exported[k], a["generator_ema"][k]) for k in exported)


# -- best_generator.pt -----------------------------------------------------------------------------------------
def test_best_generator_is_written_only_when_the_score_improves(runs_dir):
    from dcgan.runs.best import BestGenerator

    run = create_run(tiny_config("best"))
    G, _ = build_models(ModelConfig(image_size=16, g_width=8, d_width=8).resolved())
    best = BestGenerator(run, "street-digits")
    written = [best.consider({"frechet": f, "epoch": e, "step": 8 * e}, G, 8) for e, f in enumerate([90, 95, 80], 1)]
    assert written == [True, False, True]
    assert best.consider({"frechet": math.nan, "epoch": 4, "step": 32}, G, 8) is False
    _, meta = load_generator(run.path / "best_generator.pt")
    assert meta["step"] == 24 and meta["best"] == {"frechet": 80, "epoch": 3, "step": 24}
    assert run.read_status()["best_generator"]["frechet"] == 80


# -- snapshots and rolling back --------------------------------------------------------------------------------
@pytest.fixture()
def three_epochs(runs_dir, monkeypatch):
    return finished_three_epoch_run("rollme", monkeypatch)


def test_each_epoch_leaves_a_half_precision_snapshot_and_the_best_generator(three_epochs):
    run = three_epochs
    assert snapshot_epochs(run) == [1, 2, 3]
    snap = torch.load(snapshot_path(run, 2), weights_only=True)
    floats = [v for v in snap["generator"].values() if v.is_floating_point()]
    assert snap["step"] == 16 and floats and all(v.dtype == torch.float16 for v in floats)
    assert snap["discriminator"] and (run.path / "best_generator.pt").exists()
    scores = {r["step"]: r["frechet"] for r in run.read_quality()}
    _, meta = load_generator(run.path / "best_generator.pt")
    assert meta["best"]["frechet"] == min(scores.values()) and meta["step"] == min(scores, key=scores.get)


def test_snapshots_are_thinned_on_nested_power_of_two_grids_keeping_the_newest_and_the_best():
    keeping = SnapshotKeeping(recent=10, older=30)
    previous_drop: set[int] = set()
    for last in range(1, 3001):
        epochs = [e for e in range(1, last + 1) if e not in previous_drop]
        dropped = set(snapshots_to_drop(epochs, keeping))
        kept = [e for e in epochs if e not in dropped]
        assert kept[-10:] == list(range(max(1, last - 9), last + 1)) and len(kept) <= 40
        # nested: what was deleted earlier is what the rule would drop now from every epoch's snapshot
        assert previous_drop <= set(snapshots_to_drop(list(range(1, last + 1)), keeping))
        previous_drop |= dropped  # what a run thinning at each epoch's end has deleted so far
    assert len(kept) >= 25 and kept[0] <= 128  # thinned, not emptied: the older ones span the run
    assert 777 in snapshots_to_drop(sorted([*kept, 777]), keeping)
    assert 777 not in snapshots_to_drop(sorted([*kept, 777]), keeping, keep=(777,))


def test_a_long_run_keeps_a_bounded_number_of_snapshots_and_its_best_scored_one(runs_dir, monkeypatch):
    import dcgan.runs.snapshots as snapshots
    from dcgan.quality.tracker import EpochScorer

    monkeypatch.setenv("DCGAN_SCORE_BUDGET", "inf")  # a score at every epoch
    monkeypatch.setattr(snapshots, "SnapshotKeeping", lambda: SnapshotKeeping(recent=3, older=3))
    measured = EpochScorer.score

    def best_at_epoch_3(self, G, step, epoch, trained_s):  # an early best, off the thinning grid
        return {**measured(self, G, step, epoch, trained_s), "frechet": 1.0 if epoch == 3 else 100.0 + epoch}

    monkeypatch.setattr(EpochScorer, "score", best_at_epoch_3)
    run = create_run(tiny_config("long", epochs=14, limit=64, score_samples=250))  # 2 steps an epoch
    assert train_run(run)["state"] == "finished"
    kept = snapshot_epochs(run)
    assert kept == [3, 4, 8, 10, 12, 13, 14]  # the newest 3, the grid before them, and the best-scored epoch


def test_rollback_restores_the_epoch_and_discards_what_came_after(three_epochs):
    run = three_epochs
    snap = torch.load(snapshot_path(run, 1), weights_only=True)
    run.acquire_lock()
    roll_back(run, 1, lr=1e-4)
    run.release_lock()
    ckpt = load_checkpoint(run.checkpoint_path)
    assert ckpt["step"] == 8 and ckpt["opt_generator"] == {} and "generator_ema" not in ckpt
    assert all(torch.equal(ckpt["generator"][k], snap["generator"][k].float()) for k in snap["generator"])
    assert max(r["step"] for r in run.read_metrics()[0]) == 8 and max(s for s, _ in run.samples()) == 8
    assert [r["step"] for r in run.read_quality()] == [8] and snapshot_epochs(run) == [1]
    assert json.loads(run.config_path.read_text())["train"]["lr"] == 1e-4
    final = train_run(run)  # continues from step 8, once
    steps = [r["step"] for r in run.read_metrics()[0]]
    assert final["state"] == "finished" and steps == sorted(set(steps)) and steps[-1] == 24
    assert snapshot_epochs(run) == [1, 2, 3]


def test_a_rollback_killed_after_its_checkpoint_is_finished_by_the_resume(three_epochs, monkeypatch):
    """The checkpoint's atomic replace is the commit point: killed before, nothing changed; killed after, the
    trainer discards what came after the snapshot itself."""
    run = three_epochs
    import dcgan.runs.snapshots as snapshots

    def killed(*args):
        raise KeyboardInterrupt  # as if the process died here

    monkeypatch.setattr(snapshots, "atomic_save_torch", killed)
    run.acquire_lock()
    with pytest.raises(KeyboardInterrupt):
        roll_back(run, 2)
    assert load_checkpoint(run.checkpoint_path)["step"] == 24 and snapshot_epochs(run) == [1, 2, 3]
    monkeypatch.undo()
    monkeypatch.setattr(run, "discard_after", killed)
    with pytest.raises(KeyboardInterrupt):
        roll_back(run, 2)
    run.release_lock()
    monkeypatch.undo()
    assert load_checkpoint(run.checkpoint_path)["step"] == 16
    final = train_run(run)
    steps = [r["step"] for r in run.read_metrics()[0]]
    assert final["state"] == "finished" and steps == sorted(set(steps)) and steps[-1] == 24


def test_the_cli_rolls_back_and_trains_on_and_refuses_in_words(three_epochs, capsys):
    from dcgan.cli import main

    run = three_epochs
    assert main(["rollback", "rollme", "--epoch", "7"]) == 2
    err = capsys.readouterr().err
    assert "no snapshot of epoch 7" in err and "it has snapshots of epochs 1, 2, 3" in err
    holder = type(run)(run.path)
    holder.acquire_lock()  # as if another process trained it
    assert main(["rollback", "rollme", "--epoch", "1"]) == 2
    assert "already being trained" in capsys.readouterr().err and load_checkpoint(run.checkpoint_path)["step"] == 24
    holder.release_lock()
    assert main(["rollback", "rollme", "--epoch", "2", "--lr", "0"]) == 2
    assert "--lr must be a positive number" in capsys.readouterr().err
    assert main(["rollback", "rollme", "--epoch", "2", "--lr", "1e-4"]) == 0
    err = capsys.readouterr().err
    assert "rolled rollme back to epoch 2 (step 16)" in err and "finished" in err
    assert [r["step"] for r in run.read_metrics()[0]][-1] == 24


def test_the_rollback_advice_picks_the_best_scored_snapshot_before_the_trouble():
    quality = [{"step": 8, "frechet": 50.0}, {"step": 16, "frechet": 40.0}, {"step": 24, "frechet": 90.0}]
    assert suggest_epoch([1, 2, 3, 4], quality, 8, before_step=30) == 2
    assert suggest_epoch([1, 2, 3, 4], [], 8, before_step=30) == 3  # unscored: the latest before the trouble
    assert suggest_epoch([3, 4], [], 8, before_step=20) is None


@pytest.mark.slow  # a worker process killed mid-run, and a reference run
def test_a_run_with_every_switch_killed_minus_9_and_resumed_equals_an_uninterrupted_one(runs_dir):
    import signal
    import time

    from test_trainer import _worker, metric_steps

    settings = dict(limit=512, epochs=3, checkpoint_every_s=1e9, score_samples=0, **HACKS)  # 16 steps an epoch
    reference = create_run(tiny_config("reference", **settings))
    train_run(reference)
    run = create_run(tiny_config("killed", **settings))
    proc = _worker(run)
    deadline = time.time() + 120
    while time.time() < deadline and not any(s > 20 for s in metric_steps(run)):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 20 < max(metric_steps(run)) < 48, "the kill must land mid-run, after the first epoch's checkpoint"
    assert train_run(run)["state"] == "finished"
    assert metric_steps(run) == metric_steps(reference)
    a, b = load_checkpoint(reference.checkpoint_path), load_checkpoint(run.checkpoint_path)
    for net in ("generator", "generator_ema"):
        assert all(torch.allclose(a[net][k].float(), b[net][k].float(), atol=1e-4) for k in a[net]), net


def test_a_lower_learning_rate_keeps_tturs_ratio_and_a_restart_forgets_snapshots_and_best(three_epochs):
    from dcgan.runs.manage import set_learning_rate

    run = three_epochs
    raw = run.read_config()
    raw["train"].update(lr_g=1e-4, lr_d=4e-4)
    run.write_config(raw)
    run.acquire_lock()
    set_learning_rate(run, 1e-4)  # half of 2e-4
    run.discard_training()  # Restart from step 0
    run.release_lock()
    t = run.read_config()["train"]
    assert (t["lr"], t["lr_g"], t["lr_d"]) == pytest.approx((1e-4, 5e-5, 2e-4))
    assert snapshot_epochs(run) == [] and not (run.path / "best_generator.pt").exists()
