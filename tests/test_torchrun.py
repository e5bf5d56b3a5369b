"""Whole runs trained by two gloo processes under torchrun, on this CPU: the same steps and files as one process,
and a rank killed with -9 ends the run cleanly, which then resumes with another number of processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, tiny_config

from dcgan.runs.checkpoint import load_checkpoint
from dcgan.runs.directory import RunDirectory
from dcgan.runs.manage import create_run, effective_state
from dcgan.train.trainer import train_run

pytestmark = pytest.mark.slow
TINY_FLAGS = ["--device", "cpu", "--image-size", "16", "--g-width", "8", "--d-width", "8", "--score-samples", "0"]


def dcgan(*args: str, processes: int = 1, env: dict | None = None, background: bool = False):
    """`python -m dcgan ARGS` from the checkout, through torchrun when processes > 1."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    argv = [sys.executable, *launcher, "-m", "dcgan", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if background:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def metrics(run: RunDirectory) -> list[dict]:
    return run.read_metrics().records


def contract_files(run: RunDirectory) -> list[str]:
    """The run folder's files, TensorBoard's event file named by kind (its name holds a pid and a time)."""
    names = []
    for path in sorted(run.path.rglob("*")):
        if path.is_file():
            name = str(path.relative_to(run.path))
            names.append("events.out.tfevents" if name.startswith("events.out.tfevents") else name)
    return sorted(names)


def test_two_processes_of_64_take_one_process_of_128s_steps_and_write_the_same_files_once(runs_dir):
    common = [*TINY_FLAGS, "--limit", "1024", "--batch-size", "128", "--epochs", "3", "--log-every", "2"]
    two = dcgan("train", *common, "--name", "two", processes=2)
    assert two.returncode == 0, two.stdout + two.stderr
    assert "Traceback" not in two.stderr
    one = dcgan("train", *common, "--name", "one")
    assert one.returncode == 0, one.stderr
    run2, run1 = RunDirectory(runs_dir / "two"), RunDirectory(runs_dir / "one")
    assert contract_files(run2) == contract_files(run1)
    lines2, lines1 = metrics(run2), metrics(run1)
    steps = [r["step"] for r in lines2]
    assert steps == [r["step"] for r in lines1] and len(set(steps)) == len(steps)  # each step logged once
    assert [r["images_seen"] for r in lines2] == [r["images_seen"] for r in lines1]  # the global batch: 128
    assert [s for s, _ in run2.samples()] == [s for s, _ in run1.samples()]
    for key in ("d_loss", "g_loss"):  # the same data and weights, other noise: close, not equal
        end2 = sum(r[key] for r in lines2[-3:]) / 3
        end1 = sum(r[key] for r in lines1[-3:]) / 3
        assert abs(end2 - end1) < 0.25 * max(end1, 0.5), (key, end2, end1)
    config = json.loads(run2.config_path.read_text())
    assert config["train"]["batch_size"] == 128
    assert config["distributed"] == {
        "processes": 2,
        "batch_per_process": 64,
        "global_batch": 128,
        "backend": "gloo",
        "batchnorm": "synchronised over all processes",
    }
    assert "distributed" not in json.loads(run1.config_path.read_text())
    assert run2.read_status()["state"] == "finished" and run2.read_status()["processes"] == 2
    assert load_checkpoint(run2.checkpoint_path)["step"] == steps[-1]


def _rank_pid(marker: str, rank: int) -> int | None:
    """The pid of the torchrun worker of `rank` whose environment holds `marker`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"DCGAN_TEST_MARK={marker}".encode() in environ and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


def test_a_rank_killed_with_minus_9_ends_the_run_cleanly_and_it_resumes_with_other_numbers_of_processes(runs_dir):
    run = create_run(tiny_config("killed", limit=2048, epochs=4, log_every=2, score_samples=0), runs_dir)
    calls = []
    train_run(run, abort_fn=lambda: calls.append(1) or len(calls) >= 10)  # one process, stopped at step 10
    assert run.read_status()["state"] == "stopped"
    stopped_at = load_checkpoint(run.checkpoint_path)["step"]

    marker = uuid.uuid4().hex
    two = dcgan("resume", "killed", processes=2, env={"DCGAN_TEST_MARK": marker}, background=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics(run) or metrics(run)[-1]["step"] < stopped_at + 8):
        assert two.poll() is None, two.communicate()[0]  # the resumed run must still be training
        time.sleep(0.1)
    rank1 = _rank_pid(marker, 1)
    assert rank1 is not None
    os.kill(rank1, signal.SIGKILL)
    output, _ = two.communicate(timeout=120)
    assert two.returncode != 0

    status = run.read_status()
    assert status["state"] == "failed", status
    assert "another of this run's 2 processes stopped" in status["message"]
    assert "resume to continue" in status["message"]
    assert effective_state(run) == "failed" and run.lock_owner() is None  # the other rank exited: nobody holds it
    assert not [p for p in run.path.rglob(".*.tmp")]  # nothing half-written
    resumed_from = load_checkpoint(run.checkpoint_path)["step"]
    assert resumed_from >= stopped_at

    one = dcgan("resume", "killed")  # one process now
    assert one.returncode == 0, one.stderr
    assert run.read_status()["state"] == "finished"
    steps = [r["step"] for r in metrics(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 4 * (2048 // 32)  # no step twice, none after the end
    assert "distributed" not in json.loads(run.config_path.read_text())  # one process trained it last
    assert run.generator_path.exists()


def test_the_apps_launch_on_two_processes_keeps_the_run_locked_by_torchrun_and_stops_on_stop(runs_dir):
    from apptest_helpers import wait_for_state

    from dcgan.errors import RunLocked
    from dcgan.runs.manage import launch, request_stop, resume

    run = create_run(tiny_config("launched", limit=2048, epochs=20, log_every=2, score_samples=0), runs_dir)
    agent = launch(run, processes=2)  # what start_run does for "all 2 GPUs", here on the CPU
    assert run.lock_owner() == agent  # torchrun's agent holds the run from the start...
    with pytest.raises(RunLocked):
        resume(run)  # ...so a second trainer is refused
    deadline = time.time() + 120
    while time.time() < deadline and len(metrics(run)) < 4:
        time.sleep(0.1)
    assert run.read_status()["state"] == "running" and run.read_status()["processes"] == 2
    request_stop(run)  # the app's Stop: both processes agree on it at a logging step
    assert wait_for_state(run.path, timeout=120) == "stopped"
    deadline = time.time() + 60
    while time.time() < deadline and run.lock_owner() is not None:
        time.sleep(0.1)
    assert run.lock_owner() is None
    stopped = load_checkpoint(run.checkpoint_path)["step"]
    assert stopped == metrics(run)[-1]["step"] and run.generator_path.exists()
    assert not run.stop_requested()
