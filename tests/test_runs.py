import os
import time

import pytest

from conftest import tiny_config
from dcgan.rundir import RunDirectory, RunLocked
from dcgan.runs import delete_run, launch, list_runs, request_stop, resume, start_run


def wait_for(run, states, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run.read_status() or {}
        if status.get("state") in states and run.lock_owner() is None:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run never reached {states}: {run.read_status()} log: {run.log_path.read_text()[-800:]}")


def test_background_run_outlives_the_call_and_finishes(runs_dir):
    started = time.time()
    run = start_run(tiny_config("bg"))
    assert time.time() - started < 5  # returns at once; the training happens in another process
    assert run.lock_owner() not in (None, os.getpid())
    status = wait_for(run, {"finished"})
    assert status["step"] == 8 and run.generator_path.exists()
    summary = list_runs()[0]
    assert summary["name"] == "bg" and summary["state"] == "finished" and summary["d_loss"] is not None


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


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    run = RunDirectory(tmp_path / "r")
    run.path.mkdir()
    run.transfer_lock(2**22 + 12345)  # a pid that is not running
    assert run.lock_owner() is None
    run.acquire_lock()
    assert run.lock_owner() == os.getpid()
    run.release_lock()
    assert not run.lock_path.exists()


def test_read_metrics_returns_only_new_complete_lines(tmp_path):
    run = RunDirectory(tmp_path)
    run.append_metrics({"step": 1})
    run.append_metrics({"step": 2})
    records, offset = run.read_metrics()
    assert [r["step"] for r in records] == [1, 2]
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 3}\n{"step": 4, "d_lo')  # a line being written when we read
    records, offset2 = run.read_metrics(offset)
    assert [r["step"] for r in records] == [3]
    with open(run.metrics_path, "a") as f:
        f.write('ss": 1.0}\n')
    records, _ = run.read_metrics(offset2)
    assert [r["step"] for r in records] == [4]
