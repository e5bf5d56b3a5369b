"""Faults a run folder meets in real life: damaged files, a lost checkpoint, an edited config, leftovers
of killed writes. Each gives a clear message or is handled, and nothing trained is lost."""

import json
import shutil
from pathlib import Path

import pytest
from apptest_helpers import open_page, widget
from conftest import tiny_config

from dcgan.cli import main
from dcgan.errors import ResumeRefused, RunDamaged
from dcgan.runs.directory import RunDirectory
from dcgan.runs.manage import create_run, delete_run, list_runs
from dcgan.train.trainer import train_run


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, data_dir) -> Path:
    """A finished tiny run (16 steps, a checkpoint at each epoch's end), trained once for this module."""
    run = create_run(tiny_config("trained", epochs=2), tmp_path_factory.mktemp("trained-once"))
    train_run(run)
    return run.path


@pytest.fixture()
def trained(runs_dir, trained_once):
    """A copy of that run in this test's runs folder, to damage (the files hold no path of their own)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained_once, runs_dir / "trained")
    return RunDirectory(runs_dir / "trained")


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _damage(run: RunDirectory, case: str) -> None:
    config = json.loads(run.config_path.read_text())
    if case == "config-not-utf8":
        run.config_path.write_bytes(b'\xff\xfe{"name": ')
    elif case == "config-data-oops":
        run.config_path.write_text(json.dumps({**config, "data": "oops"}))
    elif case == "config-truncated":
        run.config_path.write_text(run.config_path.read_text()[:40])
    elif case == "status-list":
        run.status_path.write_text("[1, 2]")
    elif case == "status-strings":
        status = json.loads(run.status_path.read_text())
        run.status_path.write_text(json.dumps({**status, "step": "oops", "epoch": "1.0", "images_per_s": "x"}))


DAMAGES = {
    "config-not-utf8": "not text",
    "config-data-oops": "'data' must be an object",
    "config-truncated": "not valid JSON",
    "status-list": "holds a JSON list",
    "status-strings": "step, epoch, images_per_s of the wrong type",
}


@pytest.mark.parametrize("case", DAMAGES)
def test_a_damaged_run_is_listed_with_its_reason_and_hides_no_other(trained, runs_dir, capsys, case):
    other = create_run(tiny_config("other"))
    (runs_dir / "notes.txt").write_text("a stray file among the runs")
    _damage(trained, case)
    summaries = {s["name"]: s for s in list_runs()}
    assert set(summaries) == {"trained", "other"}
    assert summaries["trained"]["state"] == "damaged" and DAMAGES[case] in summaries["trained"]["problem"]
    assert summaries["other"]["problem"] is None
    code, out, _ = cli(capsys, "runs")
    assert code == 0 and DAMAGES[case] in out and "other" in out
    delete_run(other)


def _files(run: RunDirectory) -> dict:
    """Every file's bytes but the lock's (its owner's pid is rewritten by whoever takes it)."""
    return {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file() and p != run.lock_path}


@pytest.mark.parametrize("case", [c for c in DAMAGES if c.startswith("config")])
def test_resume_of_a_damaged_config_is_one_line_and_changes_nothing(trained, capsys, case):
    _damage(trained, case)
    before = _files(trained)
    code, _, err = cli(capsys, "resume", "trained")
    assert code == 2 and err.count("\n") == 1 and DAMAGES[case] in err and "Traceback" not in err
    assert _files(trained) == before


def test_a_damaged_run_opens_in_the_app_and_can_be_deleted(trained, runs_dir):
    _damage(trained, "config-truncated")
    at = open_page("train", run="trained")
    assert any("This run is damaged" in e.value and "not valid JSON" in e.value for e in at.error)
    widget(at, "chosen-runs").set_value(["trained"]).run()
    widget(at, "delete-runs").click().run()
    widget(at, "confirm-delete-yes").click().run()
    assert not at.exception and not trained.path.exists()


def test_damaged_metrics_lines_are_skipped_counted_and_resume_goes_on(trained):
    with open(trained.metrics_path, "ab") as f:
        f.write(b'\xff\xfe not utf-8\n{"step": "oops", "d_loss": 1.0}\n[1, 2]\n')
    read = trained.read_metrics()
    assert read.skipped == 3 and [r["step"] for r in read.records] == [
        1,
        *range(2, 17, 2),
    ]  # the first step after a start, then every log_every
    at = open_page("train", run="trained")
    assert any("3 damaged lines of metrics.jsonl" in w.value for w in at.warning)
    config = json.loads(trained.config_path.read_text())
    trained.write_config({**config, "train": {**config["train"], "epochs": 3}})
    assert train_run(trained)["step"] == 24
    read = trained.read_metrics()
    assert read.skipped == 0 and [r["step"] for r in read.records] == [
        1,
        *range(2, 25, 2),
    ]  # a resume logs every log_every


def test_lost_checkpoint_refuses_resume_and_restart_is_deliberate(trained, capsys):
    trained.checkpoint_path.unlink()
    metrics_before = trained.metrics_path.read_bytes()
    with pytest.raises(ResumeRefused, match="checkpoint.pt is gone"):
        train_run(trained)
    code, _, err = cli(capsys, "resume", "trained")
    assert code == 2 and "--restart" in err
    assert trained.metrics_path.read_bytes() == metrics_before  # nothing erased by the refusals
    code, _, err = cli(capsys, "resume", "trained", "--restart")
    assert code == 0 and "finished" in err
    assert [r["step"] for r in trained.read_metrics().records] == [
        1,
        *range(2, 17, 2),
    ]  # the first step after a start, then every log_every


def test_edited_config_that_no_longer_matches_the_checkpoint_names_the_setting(trained, capsys):
    config = json.loads(trained.config_path.read_text())
    trained.write_config({**config, "model": {**config["model"], "g_width": 16}})
    code, _, err = cli(capsys, "resume", "trained")
    assert code == 2 and "model.g_width is 16 in config.json but 8 in the checkpoint" in err


def test_a_new_run_checkpoints_before_its_first_metrics_line(runs_dir):
    """So 'metrics but no checkpoint' always means a lost checkpoint, never a run killed early."""
    run = create_run(tiny_config("early", epochs=1, checkpoint_every_s=1e9))
    seen = []
    train_run(run, progress_fn=lambda status: seen.append(run.checkpoint_path.exists()))
    assert seen and seen[0]


def test_leftovers_of_killed_writes_and_grids_past_the_checkpoint_are_removed(trained):
    from dcgan.runs.checkpoint import load_checkpoint

    saved_step = load_checkpoint(trained.checkpoint_path)["step"]
    leftover = trained.path / ".checkpoint.pt.abc123.tmp"
    leftover.write_bytes(b"\0" * 4096)
    (trained.samples_dir / ".step0000099.png.x.tmp").write_bytes(b"half a png")
    orphan_grid = trained.samples_dir / f"step{saved_step + 5:07d}.png"  # from training after the checkpoint
    orphan_grid.write_bytes((trained.samples_dir / f"step{saved_step:07d}.png").read_bytes())
    train_run(trained)
    assert not leftover.exists() and not list(trained.samples_dir.glob(".*.tmp"))
    assert not orphan_grid.exists()


def test_load_of_a_checkpoint_with_the_right_tag_but_missing_keys_is_one_line(trained, capsys):
    import torch

    ckpt = torch.load(trained.checkpoint_path, weights_only=True)
    del ckpt["generator"]
    torch.save(ckpt, trained.checkpoint_path)
    code, _, err = cli(capsys, "resume", "trained")
    assert code == 2 and "generator" in err and "Traceback" not in err


def test_run_damaged_is_raised_for_unreadable_config(tmp_path):
    run = RunDirectory(tmp_path / "r")
    run.path.mkdir()
    run.config_path.write_bytes(b"\x00\x01")
    with pytest.raises(RunDamaged, match="r/config.json is not valid JSON"):
        run.read_run_config()


# -- a full disk: a real, small tmpfs (root can mount one; CI runs as root) -------------------------------------
@pytest.fixture()
def small_disk(tmp_path, monkeypatch, data_dir):
    """A 16 MB file system holding the runs folder (the data cache stays on the big disk)."""
    import os
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test a real full disk, but mounting a tmpfs failed: {done.stderr.decode()}")
        pytest.skip("mounting a tmpfs needs root")
    monkeypatch.setenv("DCGAN_RUNS_DIR", str(mount / "runs"))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk holding `folder` is 100% full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: closing must not retry a failed write
        for chunk in (b"\0" * 65536, b"\0"):  # then the last bytes of a partly used block
            try:
                while True:
                    f.write(chunk)
            except OSError:
                pass
    return filler


@pytest.mark.slow  # a 240-step run on a tmpfs filled to the last byte
def test_disk_full_mid_run_fails_clearly_keeps_the_checkpoint_and_resumes(small_disk, capsys):
    from dcgan.runs.checkpoint import load_checkpoint

    run = create_run(tiny_config("full", epochs=30, log_every=1, checkpoint_every_s=1e9))
    filler = []

    def fill_after_first_epoch(status):
        if status["step"] > 8 and not filler:  # after the first epoch's checkpoint
            filler.append(fill(small_disk))

    with pytest.raises(OSError):
        train_run(run, progress_fn=fill_after_first_epoch)
    status = run.read_status()
    assert status["state"] == "failed" and "disk full" in status["error"] and "resume" in status["error"]
    assert {s["name"]: s["state"] for s in list_runs()}["full"] == "failed"
    assert load_checkpoint(run.checkpoint_path)["step"] >= 8  # the last good checkpoint is intact
    code, _, err = cli(capsys, "resume", "full")  # still full: one line, no traceback
    assert code == 2 and "disk full" in err and "Traceback" not in err and err.count("dcgan: error") == 1
    filler[0].unlink()
    code, _, err = cli(capsys, "resume", "full")
    assert code == 0 and "finished" in err
    steps = [r["step"] for r in run.read_metrics().records]
    assert steps == list(range(1, 30 * 8 + 1))


def test_new_run_on_a_full_disk_leaves_nothing_behind(small_disk, capsys):
    (small_disk / "runs").mkdir()
    filler = fill(small_disk)
    code, _, err = cli(capsys, "train", "--name", "nospace", "--limit", "64", "--batch-size", "32", "--device", "cpu")
    assert code == 2 and "disk full" in err and "Traceback" not in err
    assert list((small_disk / "runs").iterdir()) == []  # no folder, hidden or not, blocks the name
    filler.unlink()


@pytest.mark.slow  # restarts the run in a background process
def test_app_offers_a_deliberate_restart_when_the_checkpoint_is_gone(trained):
    from apptest_helpers import wait_for_state

    trained.write_status(state="stopped", message="stopped at step 16")
    trained.checkpoint_path.unlink()
    at = open_page("train", run="trained")
    widget(at, f"resume:{trained.path}").click().run()
    assert any("checkpoint.pt is gone" in e.value for e in at.error) and not at.exception
    assert trained.read_status()["state"] == "stopped"  # the refused resume changed nothing
    widget(at, f"restart:{trained.path}").click().run()
    assert not at.exception
    assert wait_for_state(trained.path, ("finished",)) == "finished"
    assert [r["step"] for r in trained.read_metrics().records] == [
        1,
        *range(2, 17, 2),
    ]  # the first step after a start, then every log_every


@pytest.mark.parametrize("damage", ["missing-key", "nan-weights", "text"])
def test_app_resume_of_a_damaged_checkpoint_is_a_message_and_offers_a_restart(trained, damage):
    import torch

    if damage == "text":
        trained.checkpoint_path.write_text("not a checkpoint")
    else:
        ckpt = torch.load(trained.checkpoint_path, weights_only=True)
        if damage == "missing-key":
            del ckpt["generator"]
        else:
            next(iter(ckpt["generator"].values())).fill_(float("nan"))
        torch.save(ckpt, trained.checkpoint_path)
    trained.write_status(state="stopped", message="stopped at step 16")
    at = open_page("train", run="trained")
    widget(at, f"resume:{trained.path}").click().run()
    assert not at.exception
    assert any("checkpoint.pt" in e.value and "Restart in the app" in e.value for e in at.error)
    assert not widget(at, f"restart:{trained.path}").disabled  # (widget raises when there is none)


def test_a_metrics_file_that_is_a_folder_is_reported_not_a_traceback(trained, capsys):
    trained.metrics_path.unlink()
    trained.metrics_path.mkdir()
    summary = {s["name"]: s for s in list_runs()}["trained"]
    assert summary["state"] == "damaged" and "metrics.jsonl is not a file" in summary["problem"]
    at = open_page("train", run="trained")
    assert not at.exception and any("metrics.jsonl is not a file" in e.value for e in at.error)
    code, _, err = cli(capsys, "resume", "trained")
    assert code == 2 and "metrics.jsonl is not a file" in err


def test_an_unknown_run_in_the_address_is_said_and_the_address_fixed(trained):
    at = open_page("train", run="gone")
    assert any("no run named 'gone'" in w.value for w in at.warning)
    assert "run" not in at.query_params
