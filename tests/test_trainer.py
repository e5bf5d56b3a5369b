import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, tiny_config

from dcgan.runs.checkpoint import load_checkpoint
from dcgan.runs.generator_file import load_generator
from dcgan.runs.manage import create_run, list_runs
from dcgan.train.failures import describe_error
from dcgan.train.gan_step import GanStep
from dcgan.train.trainer import train_run

REAL_GAN_STEP = GanStep.__call__


def metric_steps(run):
    return [r["step"] for r in run.read_metrics()[0]]


def test_tiny_run_writes_the_whole_run_folder(runs_dir):
    run = create_run(tiny_config())
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 8  # 256 images // 32
    for path in (
        run.config_path,
        run.metrics_path,
        run.checkpoint_path,
        run.status_path,
        run.generator_path,
        run.reals_path,
    ):
        assert path.exists(), path.name
    assert run.lock_owner() is None
    config = json.loads(run.config_path.read_text())
    assert config["version"] and config["device_used"].startswith("cpu") and config["model"]["g_width"] == 8
    records = run.read_metrics()[0]
    assert [r["step"] for r in records] == [1, 2, 4, 6, 8]  # a new run logs its first step at once
    assert {"epoch", "images_seen", "d_loss", "g_loss", "d_real", "d_fake", "images_per_s", "time"} <= records[0].keys()
    assert 0 < records[-1]["d_real"] < 1 and records[-1]["images_seen"] == 8 * 32
    assert [step for step, _ in run.samples()][-1] == 8
    G, meta = load_generator(run.generator_path)  # weights_only=True inside
    assert meta["step"] == 8 and G(torch.randn(2, 100)).shape == (2, 3, 16, 16)


def test_stop_request_ends_with_checkpoint_and_resume_finishes(runs_dir):
    run = create_run(tiny_config(epochs=4))
    calls = {"n": 0}

    def abort_after_five():
        calls["n"] += 1
        return calls["n"] >= 5

    stopped = train_run(run, abort_fn=abort_after_five)
    assert stopped["state"] == "stopped" and stopped["step"] == 5
    assert load_checkpoint(run.checkpoint_path)["step"] == 5 and run.generator_path.exists()
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 32
    steps = metric_steps(run)
    assert steps == sorted(set(steps)) and steps[-1] == 32 and 5 in steps


def test_divergence_is_reported_with_the_step_and_keeps_last_good_checkpoint(runs_dir):
    run = create_run(tiny_config(lr=1e30, epochs=2))
    final = train_run(run)
    assert final["state"] == "diverged"
    assert "NaN or infinite between steps 0 and 1" in final["message"] and "lower learning rate" in final["message"]
    assert "the last good checkpoint is at step 0" in final["message"]  # the one written before the first step
    checkpoint = load_checkpoint(run.checkpoint_path)
    assert checkpoint["step"] == 0 and finite_weights(checkpoint)
    assert run.lock_owner() is None and metric_steps(run) == []


def finite_weights(checkpoint: dict) -> bool:
    return all(
        torch.isfinite(v).all()
        for net in ("generator", "discriminator")
        for v in checkpoint[net].values()
        if v.is_floating_point()
    )


def poison_step(monkeypatch, at_call: int, poison) -> list:
    """Make GanStep's call number `at_call` (the step that makes step `at_call`) go through `poison(step, real)`
    instead of the real step; returns the list of calls made so far (its length is the count)."""
    real_step, calls = GanStep.__call__, []

    def step(self, real):
        calls.append(1)
        if len(calls) == at_call:
            return poison(lambda batch: real_step(self, batch), real)
        return real_step(self, real)

    monkeypatch.setattr(GanStep, "__call__", step)
    return calls


def test_divergence_mid_run_keeps_the_last_epochs_checkpoint_finite_and_the_run_resumes_from_it(runs_dir, monkeypatch):
    run = create_run(tiny_config("nan-batch", epochs=2))  # 8 steps an epoch, a checkpoint at its end
    poison_step(monkeypatch, 10, lambda step, real: step(real * float("nan")))  # a batch of NaN pixels at step 10
    final = train_run(run)
    assert final["state"] == "diverged" and final["step"] == 8  # the status keeps the last step it logged
    assert "between steps 8 and 10" in final["message"] and "the last good checkpoint is at step 8" in final["message"]
    checkpoint = load_checkpoint(run.checkpoint_path)
    assert checkpoint["step"] == 8 and finite_weights(checkpoint)
    assert metric_steps(run) == [1, 2, 4, 6, 8] and run.lock_owner() is None  # no NaN line was written
    monkeypatch.setattr(GanStep, "__call__", REAL_GAN_STEP)  # the data is fine again
    resumed = train_run(run)
    assert resumed["state"] == "finished" and resumed["step"] == 16 and metric_steps(run) == [1, *range(2, 17, 2)]


def _worker(run):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "dcgan", "worker", str(run.path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow  # a worker process and two 96-step runs at 32 px
def test_kill_minus_9_mid_epoch_resumes_without_gaps_or_duplicates(runs_dir):
    # With the per-epoch quality score on: loading its classifier once drew from the global RNG after the
    # resume had restored it, and the resumed run drifted from the reference; this guards against that.
    settings = dict(
        limit=1024, image_size=32, g_width=16, d_width=16, epochs=3, checkpoint_every_s=1e9, score_samples=200
    )
    reference = create_run(tiny_config("reference", **settings))
    train_run(reference)

    run = create_run(tiny_config("killed", **settings))  # 32 steps an epoch, checkpoints at epoch ends
    proc = _worker(run)
    deadline = time.time() + 120
    while time.time() < deadline and not any(s > 40 for s in metric_steps(run)):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(metric_steps(run))
    assert 40 < killed_at < 96, "the kill must land mid-run, after the first epoch's checkpoint"
    assert run.lock_owner() is None  # the kernel dropped the killed process's lock...
    assert {r["name"]: r["state"] for r in list_runs()}["killed"] == "interrupted"  # status says running; nobody is
    final = train_run(run)  # ...so the run can be resumed
    assert final["state"] == "finished" and final["step"] == 96
    assert metric_steps(run) == metric_steps(reference) == [1, *range(2, 97, 2)]
    # Same data order and RNG state after the resume: the same losses as the uninterrupted run.
    last, ref_last = run.read_metrics()[0][-1], reference.read_metrics()[0][-1]
    assert last["d_loss"] == pytest.approx(ref_last["d_loss"], rel=1e-3)
    assert last["g_loss"] == pytest.approx(ref_last["g_loss"], rel=1e-3)


def test_folder_too_large_to_hold_is_streamed_in_the_same_order(runs_dir, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("DCGAN_SCORE_BUDGET", "inf")  # score every epoch: a tiny run's epochs are too short to afford it
    import dcgan.data.batches as batches

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(40):
        Image.new("RGB", (20, 24), (i * 6, 255 - i * 6, 128)).save(folder / f"{i:02d}.png")
    monkeypatch.setattr(batches, "MEMORY_BUDGET_BYTES", 0)  # pretend the folder does not fit
    cfg = tiny_config("streamed", dataset="folder", folder=str(folder), limit=0, batch_size=8, epochs=2)
    source = batches.make_batches(cfg.data, cfg.model.resolved(), 8, torch.device("cpu"), seed=0)
    assert isinstance(source, batches.StreamingBatches) and source.steps_per_epoch == 5
    resumed = list(source.epoch(1, start=3))
    assert len(resumed) == 2 and torch.equal(resumed[0], list(source.epoch(1))[3])  # mid-epoch resume, same batch
    run = create_run(cfg)
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 10
    assert [q["epoch"] for q in run.read_quality()] == [1, 2]  # scored like a held folder (against 40 real images)


# -- a run that fails: the reason in status.json, the lock released, and a resume from the last checkpoint ------
def test_an_error_inside_training_fails_the_run_with_its_reason_and_it_resumes_from_the_last_checkpoint(
    runs_dir, monkeypatch
):
    run = create_run(tiny_config("breaks", epochs=2))

    def broken(step, real):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    poison_step(monkeypatch, 11, broken)  # mid-epoch 2, after the first epoch's checkpoint at step 8
    with pytest.raises(RuntimeError, match="illegal memory access"):
        train_run(run)
    status = run.read_status()
    reason = "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert status["state"] == "failed" and status["error"] == reason and status["message"] == reason
    assert status["pid"] is None and status["eta_s"] is None
    assert "Traceback" in (run.path / "error.txt").read_text() and "in broken" in (run.path / "error.txt").read_text()
    assert run.lock_owner() is None and not run.lock.held  # released by the failed trainer
    assert {r["name"]: r["state"] for r in list_runs()}["breaks"] == "failed"
    assert load_checkpoint(run.checkpoint_path)["step"] == 8 and metric_steps(run) == [1, 2, 4, 6, 8, 10]

    monkeypatch.setattr(GanStep, "__call__", REAL_GAN_STEP)
    final = train_run(run)  # from step 8: step 10's line, past the checkpoint, is dropped and written again
    assert final["state"] == "finished" and final["step"] == 16 and final["error"] is None
    assert metric_steps(run) == [1, *range(2, 17, 2)]


def test_a_data_error_before_the_first_step_fails_the_run_and_releases_the_lock(runs_dir, monkeypatch):
    import dcgan.train.trainer as trainer

    def unreadable(*args, **kwargs):
        raise OSError(5, "Input/output error", "/data/street-digits/train.npz")

    monkeypatch.setattr(trainer, "make_batches", unreadable)
    run = create_run(tiny_config("unreadable"))
    with pytest.raises(OSError):
        train_run(run)
    status = run.read_status()
    assert status["state"] == "failed" and "Input/output error" in status["error"] and status["pid"] is None
    assert run.lock_owner() is None and not run.checkpoint_path.exists()


def test_a_full_disk_is_described_with_the_file_and_what_to_do():
    import errno

    reason = describe_error(OSError(errno.ENOSPC, "No space left on device", "/runs/r/checkpoint.pt.tmp"))
    assert reason.startswith("disk full while writing checkpoint.pt.tmp: no space left")
    assert "last good checkpoint is kept" in reason and reason.endswith("then resume")
    assert describe_error(ValueError("bad value")) == "ValueError: bad value"


# -- checkpoints every checkpoint_every_s seconds, besides each epoch's end ---------------------------------
class FakeClock:
    """The time module as the trainer sees it, with perf_counter and monotonic on a clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    monotonic = perf_counter

    def __getattr__(self, name):  # time.time, time.sleep...: the real ones
        return getattr(time, name)


def checkpointed_steps(monkeypatch) -> list:
    """The step of every training checkpoint saved from now on (whichever code path writes it)."""
    real_save, steps = torch.save, []

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "opt_discriminator" in obj:
            steps.append(obj["step"])
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return steps


def test_a_checkpoint_is_also_written_every_checkpoint_every_s_mid_epoch(runs_dir, monkeypatch):
    import dcgan.train.trainer as trainer

    clock = FakeClock()
    monkeypatch.setattr(trainer, "time", clock)

    def step_taking_ten_seconds(self, real):
        clock.now += 10.0
        REAL_GAN_STEP(self, real)

    monkeypatch.setattr(GanStep, "__call__", step_taking_ten_seconds)
    saved = checkpointed_steps(monkeypatch)
    run = create_run(tiny_config("timed", epochs=2, checkpoint_every_s=25, score_samples=0))  # 8 steps an epoch
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 16
    # More than 25 s after the last checkpoint: steps 3 and 6 (30 s after step 0's and 3's), the epoch's end at 8,
    # then 11 and 14; the checkpoint on disk is the last one, the run's end.
    assert sorted(set(saved)) == [0, 3, 6, 8, 11, 14, 16]
    assert load_checkpoint(run.checkpoint_path)["step"] == 16
    assert {3, 6, 11, 14} <= set(metric_steps(run))  # each mid-epoch checkpoint has its metrics line


def test_without_time_passing_only_epoch_ends_are_checkpointed(runs_dir, monkeypatch):
    import dcgan.train.trainer as trainer

    monkeypatch.setattr(trainer, "time", FakeClock())  # a clock that never moves
    saved = checkpointed_steps(monkeypatch)
    run = create_run(tiny_config("untimed", epochs=2, checkpoint_every_s=25, score_samples=0))
    train_run(run)
    assert sorted(set(saved)) == [0, 8, 16]


def test_a_learning_rate_changed_before_a_resume_is_the_one_trained_with(runs_dir):
    run = create_run(tiny_config("new-lr", score_samples=0))
    train_run(run)
    raw = run.read_config()
    raw["train"].update(lr=1e-5, epochs=2)
    run.write_config(raw)
    train_run(run)
    checkpoint = load_checkpoint(run.checkpoint_path)
    assert [g["lr"] for g in checkpoint["opt_generator"]["param_groups"]] == [1e-5]
    assert [g["lr"] for g in checkpoint["opt_discriminator"]["param_groups"]] == [1e-5]
