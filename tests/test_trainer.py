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
from dcgan.train.trainer import train_run


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
    assert [r["step"] for r in records] == [2, 4, 6, 8]
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
    assert "NaN or infinite between steps" in final["message"] and "lower learning rate" in final["message"]
    if run.checkpoint_path.exists():  # only ever a checkpoint whose losses were finite
        assert all(
            torch.isfinite(v).all()
            for v in load_checkpoint(run.checkpoint_path)["generator"].values()
            if v.is_floating_point()
        )


def _worker(run):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "dcgan", "worker", str(run.path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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
    assert metric_steps(run) == metric_steps(reference) == list(range(2, 97, 2))
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
