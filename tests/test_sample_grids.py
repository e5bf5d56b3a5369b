"""A long run's sample grids are thinned to one per span of steps (dcgan/runs/sample_grids.py), so a small dataset's
thousands of short epochs do not fill the disk, and TensorBoard's file gets only the grids that start a span."""

import pytest
from conftest import tiny_config

from dcgan.runs.directory import RunDirectory
from dcgan.runs.manage import create_run
from dcgan.runs.sample_grids import GridKeeping, SampleGrids, grids_kept, span_steps
from dcgan.train.trainer import train_run


def test_spans_are_the_smallest_power_of_two_that_cuts_the_run_into_at_most_the_limit():
    keeping = GridKeeping(most=10)
    assert span_steps(9, keeping) == 1  # steps 0-9: ten spans of one step, every grid kept
    assert span_steps(10, keeping) == 2 and span_steps(159, keeping) == 16 and span_steps(160, keeping) == 32
    assert grids_kept([4, 8, 12, 16, 20], keeping) == [4, 8, 12, 16, 20]  # span 2: each alone in its span
    assert grids_kept(list(range(1, 41)), keeping) == [1, 8, 16, 24, 32, 40]  # steps 0-40 need spans of 8


def _saved_one_by_one(tmp_path, steps, most):
    run = RunDirectory(tmp_path / "run")
    run.samples_dir.mkdir(parents=True)
    grids, to_board = SampleGrids(run, GridKeeping(most=most)), []
    for step in steps:
        path, board = grids.save(step, _image())
        to_board += [step] if board else []
        on_disk = [s for s, _ in run.samples()]
        assert on_disk[-1] == step and len(on_disk) <= most + 1 and on_disk == grids.steps
    return on_disk, to_board


def test_epoch_end_grids_stay_bounded_spread_evenly_and_the_kept_ones_went_to_tensorboard(tmp_path):
    kept, to_board = _saved_one_by_one(tmp_path, range(3, 3 * 1000 + 1, 3), most=8)  # 1,000 epochs of 3 steps
    gaps = [b - a for a, b in zip(kept[:-1], kept[1:-1])]
    assert len(kept) >= 5 and max(gaps) - min(gaps) <= 3  # as even as epochs of 3 steps allow
    assert set(kept[:-1]) <= set(to_board) and to_board[:3] == [3, 6, 9] and len(to_board) < 60


def test_slow_hardwares_mid_epoch_grids_are_thinned_evenly_not_wiped(tmp_path):
    # one epoch of 50,000 steps, a grid every 100 (about every 30 s on slow hardware): no epoch end to keep
    kept, _ = _saved_one_by_one(tmp_path, range(100, 45_001, 100), most=20)
    assert len(kept) >= 10 and kept[0] == 100  # the early grids, which a timelapse needs most, are there


def test_a_resumed_run_carries_on_from_the_grids_it_has(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.samples_dir.mkdir(parents=True)
    for step in range(2, 42, 2):
        run.save_sample(step, _image())
    SampleGrids(run, GridKeeping(most=8)).save(42, _image())  # 20 grids on disk, 8 allowed
    assert [s for s, _ in run.samples()] == [2, 8, 16, 24, 32, 40, 42]  # spans of 8 steps: 0-7, 8-15, ...


@pytest.mark.slow
def test_a_run_of_many_short_epochs_keeps_few_grids_and_tensorboard_gets_the_kept_ones(runs_dir, monkeypatch):
    import dcgan.train.keeping as keeping

    monkeypatch.setattr(keeping, "SampleGrids", lambda run: SampleGrids(run, GridKeeping(most=6)))
    run = create_run(tiny_config("many", epochs=40, limit=64, score_samples=0))  # 2 steps an epoch
    assert train_run(run)["state"] == "finished"
    kept = [s for s, _ in run.samples()]
    assert kept == [2, 16, 32, 48, 64, 80]  # 80 steps into spans of 16
    board_steps = _board_image_steps(run)
    if board_steps is not None:
        assert set(kept) <= set(board_steps) and len(board_steps) < 40  # the last grid too, at the run's end


def _image():
    from PIL import Image

    return Image.new("RGB", (4, 4))


def _board_image_steps(run) -> list[int] | None:
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return None
    events = EventAccumulator(str(run.path), size_guidance={"images": 0})
    events.Reload()
    return [e.step for e in events.Images("samples")]


def test_short_epochs_write_their_files_only_every_so_many_images_and_at_the_start_and_end(runs_dir, monkeypatch):
    import dcgan.train.trainer as trainer
    from dcgan.runs.snapshots import snapshot_epochs

    monkeypatch.setattr(trainer, "EPOCH_GRID_SECONDS", 1e9)  # epochs of milliseconds, as on a GPU: no extra grids

    # 64 images an epoch (2 steps of 32), files every 256 images: at the first epoch end, every 4th, the last
    run = create_run(tiny_config("short", epochs=15, limit=64, score_samples=0, epoch_files_min_images=256))
    assert train_run(run)["state"] == "finished"
    assert snapshot_epochs(run) == [1, 5, 9, 13, 15]
    assert [s for s, _ in run.samples()] == [2, 10, 18, 26, 30]
    # where epochs last seconds (EPOCH_GRID_SECONDS of them), every epoch end still draws its grid
    monkeypatch.setattr(trainer, "EPOCH_GRID_SECONDS", 0.0)
    run = create_run(tiny_config("slow", epochs=6, limit=64, score_samples=0, epoch_files_min_images=256))
    assert train_run(run)["state"] == "finished"
    assert [s for s, _ in run.samples()] == [2, 4, 6, 8, 10, 12] and snapshot_epochs(run) == [1, 5, 6]


def test_a_scored_epoch_end_gets_a_snapshot_so_the_best_scored_epoch_can_be_rolled_back_to(runs_dir, monkeypatch):
    import dcgan.train.trainer as trainer
    from dcgan.quality.tracker import EpochScorer
    from dcgan.runs.snapshots import snapshot_epochs, suggest_epoch

    monkeypatch.setenv("DCGAN_SCORE_BUDGET", "inf")  # a score at every epoch end
    measured = EpochScorer.score

    def best_at_epoch_3(self, G, step, epoch, trained_s):
        return {**measured(self, G, step, epoch, trained_s), "frechet": 1.0 if epoch == 3 else 100.0 + epoch}

    monkeypatch.setattr(EpochScorer, "score", best_at_epoch_3)
    monkeypatch.setattr(trainer, "EPOCH_GRID_SECONDS", 1e9)  # grids only where files are written
    run = create_run(tiny_config("scored", epochs=8, limit=64, score_samples=250, epoch_files_min_images=256))
    assert train_run(run)["state"] == "finished"
    assert [s for s, _ in run.samples()] == [2, 10, 16]  # grids: first epoch end, 256 images later, the last
    assert snapshot_epochs(run) == list(range(1, 9))  # every scored epoch end has a snapshot
    scores = [{**r, "frechet": 1.0 if r["step"] == 6 else 100.0} for r in run.read_quality()]
    assert suggest_epoch(snapshot_epochs(run), scores, 2, before_step=16) == 3


def test_a_dataset_of_exactly_the_threshold_writes_its_files_every_epoch(runs_dir):
    from dcgan.runs.snapshots import snapshot_epochs

    # 96 images, batch 32: 3 steps an epoch; the threshold of 96 is one epoch, whatever partial batch is dropped
    run = create_run(tiny_config("whole", epochs=4, limit=100, score_samples=0, epoch_files_min_images=100))
    assert train_run(run)["state"] == "finished"
    assert snapshot_epochs(run) == [1, 2, 3, 4]
