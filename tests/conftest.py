import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One data/cache folder for the whole session, so small street-digits sets are drawn once."""
    path = tmp_path_factory.mktemp("data")
    os.environ["DCGAN_DATA_DIR"] = str(path)
    return path


@pytest.fixture()
def runs_dir(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("DCGAN_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def tiny_config(name="tiny", **overrides):
    """A run that finishes in a couple of seconds on a CPU: 256 images, batch 32, 16 px, narrow nets."""
    from dcgan.config import RunConfig, apply_overrides

    settings = {
        "name": name,
        "limit": 256,
        "batch_size": 32,
        "image_size": 16,
        "g_width": 8,
        "d_width": 8,
        "epochs": 1,
        "log_every": 2,
        "device": "cpu",
        "sample_count": 16,
        "score_samples": 200,
        "epoch_files_min_images": 0,  # every epoch end writes its checkpoint, snapshot and grid, as tests expect
    }
    settings.update(overrides)
    return apply_overrides(RunConfig(), settings)


def finished_three_epoch_run(name: str, monkeypatch):
    """A tiny 3-epoch run with G's average (EMA) on, scored at every epoch: snapshots, a best generator, a rollback."""
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    monkeypatch.setenv("DCGAN_SCORE_BUDGET", "inf")  # a score at every epoch of this tiny run
    run = create_run(tiny_config(name, epochs=3, ema_half_life=500))
    assert train_run(run)["state"] == "finished"
    return run
