import json
import os
import time

import pytest
from conftest import ROOT, tiny_config

from dcgan.errors import RunLocked
from dcgan.runs.directory import RunDirectory
from dcgan.runs.manage import create_run, delete_run, launch, list_runs, request_stop, resume, start_run


def wait_for(run, states, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run.read_status() or {}
        if status.get("state") in states and run.lock_owner() is None:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run never reached {states}: {run.read_status()} log: {run.log_path.read_text()[-800:]}")


def _process_state(pid: int) -> str | None:
    """'Z' for a zombie (exited, never waited for), another letter while it runs, None once it is gone."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@pytest.mark.slow  # a background trainer process
def test_background_run_outlives_the_call_and_finishes(runs_dir):
    started = time.time()
    run = start_run(tiny_config("bg"))
    assert time.time() - started < 5  # returns at once; the training happens in another process
    assert run.lock_owner() not in (None, os.getpid())
    status = wait_for(run, {"finished"})
    assert status["step"] == 8 and run.generator_path.exists()
    trainer = json.loads(run.lock_path.read_text())["pid"]  # a child of this process, as of the app's server
    deadline = time.time() + 30
    while _process_state(trainer) not in (None,) and time.time() < deadline:  # reaped, not left <defunct>
        time.sleep(0.05)
    assert _process_state(trainer) is None
    summary = list_runs()[0]
    assert summary["name"] == "bg" and summary["state"] == "finished" and summary["d_loss"] is not None


@pytest.mark.slow  # background trainer processes
def test_second_start_of_a_live_run_is_refused_then_stop_and_resume(runs_dir):
    run = start_run(tiny_config("long", epochs=200))
    with pytest.raises(RunLocked, match="already being trained"):
        launch(run)  # a second tab pressing Start or Resume
    with pytest.raises(RunLocked):
        delete_run(run)
    request_stop(run)
    stopped = wait_for(run, {"stopped"})
    assert 0 < stopped["step"] < 200 * 8
    resume(run)
    request_stop(run)
    again = wait_for(run, {"stopped"})
    assert again["step"] >= stopped["step"]
    delete_run(run)
    assert not run.path.exists()


@pytest.mark.slow  # 8 processes x 50 trials
def test_lock_race_has_exactly_one_winner_every_time(tmp_path):
    """8 processes x 50 trials at the same instant: the old lock (an empty file, written afterwards) let
    two win 13 times in 20."""
    import multiprocessing

    from lock_race import contend

    processes, trials = 8, 50
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
    start, tried, results = ctx.Barrier(processes), ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=contend, args=(str(tmp_path / "lock.json"), trials, start, tried, results))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in range(processes * trials)]
    for w in workers:
        w.join(timeout=30)
    winners = [sum(won for t, _, won in outcomes if t == trial) for trial in range(trials)]
    assert winners == [1] * trials


def test_lock_of_a_killed_process_is_free_and_names_its_holder(tmp_path):
    import subprocess
    import sys

    run = RunDirectory(tmp_path / "r")
    run.path.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from dcgan.runs.directory import RunDirectory; "
            f"RunDirectory({str(run.path)!r}).acquire_lock(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout.readline().strip() == "held"
    assert run.lock_owner() == holder.pid
    with pytest.raises(RunLocked, match=f"already being trained by process {holder.pid}"):
        run.acquire_lock()
    holder.kill()  # kill -9: no chance to clean up; the kernel drops the lock with the process
    holder.wait()
    assert run.lock_owner() is None
    run.acquire_lock()
    assert run.lock_owner() == os.getpid()
    run.release_lock()
    assert run.lock_owner() is None


@pytest.mark.slow  # a background trainer process
def test_refused_resume_with_a_new_learning_rate_changes_nothing(runs_dir):
    run = start_run(tiny_config("busy", epochs=500))
    config_before = run.config_path.read_bytes()
    with pytest.raises(RunLocked, match="already being trained"):
        resume(run, lr=0.5)
    assert run.config_path.read_bytes() == config_before
    request_stop(run)
    wait_for(run, {"stopped"})


@pytest.mark.slow  # two trainer processes
def test_two_resumes_at_once_one_trains_the_other_is_refused(runs_dir):
    import subprocess
    import sys

    run = create_run(tiny_config("twice", epochs=500))
    command = [sys.executable, "-m", "dcgan", "resume", str(run.path)]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    deadline = time.time() + 120
    while all(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(0.05)
    loser = next(p for p in procs if p.poll() is not None)
    winner = next(p for p in procs if p is not loser)
    assert loser.returncode == 2
    assert f"already being trained by process {winner.pid}" in loser.stderr.read()
    request_stop(run)
    assert winner.wait(timeout=120) == 0
    steps = [r["step"] for r in run.read_metrics()[0]]
    assert steps and len(steps) == len(set(steps))  # one trainer: no step written twice


def test_read_metrics_returns_only_new_complete_lines(tmp_path):
    run = RunDirectory(tmp_path)
    run.append_metrics({"step": 1})
    run.append_metrics({"step": 2})
    records, offset, _ = run.read_metrics()
    assert [r["step"] for r in records] == [1, 2]
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 3}\n{"step": 4, "d_lo')  # a line being written when we read
    records, offset2, _ = run.read_metrics(offset)
    assert [r["step"] for r in records] == [3]
    with open(run.metrics_path, "a") as f:
        f.write('ss": 1.0}\n')
    records, _, _ = run.read_metrics(offset2)
    assert [r["step"] for r in records] == [4]


def test_an_unnamed_config_makes_a_dated_run_each_time_and_stays_unnamed(runs_dir, monkeypatch):
    import dcgan.runs.manage as manage

    stamps = iter(["20261207-100000", "20261207-100001"])
    monkeypatch.setattr(manage.time, "strftime", lambda fmt: next(stamps))
    config = tiny_config("")
    first, second = create_run(config), create_run(config)  # the form's config, started twice
    assert (first.name, second.name) == ("street-digits-20261207-100000", "street-digits-20261207-100001")
    assert config.name == "" and json.loads((second.path / "config.json").read_text())["name"] == second.name
