"""A long run's sample grids are thinned to evenly spaced epochs (dcgan/runs/sample_grids.py), so a small dataset's
thousands of short epochs do not fill the disk, and TensorBoard's file gets only grids on the spacing."""

import pytest
from conftest import tiny_config

from dcgan.runs.directory import RunDirectory
from dcgan.runs.manage import create_run
from dcgan.runs.sample_grids import GridKeeping, SampleGrids, grid_spacing
from dcgan.train.trainer import train_run


def test_the_spacing_is_a_power_of_two_of_epochs_that_leaves_at_most_the_limit():
    keeping = GridKeeping(most=10)
    assert grid_spacing(list(range(1, 11)), 4, keeping) == 1  # all fit: all kept, mid-epoch ones too
    epochs_of_4 = [4 * e for e in range(1, 41)]  # 40 epoch ends
    assert grid_spacing(epochs_of_4, 4, keeping) == 16  # every 4th epoch: 10 grids
    assert grid_spacing([16, 32, 160], 4, keeping) == 16  # from the run's epochs so far, not the grids left
    assert grid_spacing(list(range(1, 13)), 4, keeping) == 4  # too many mid-epoch grids: epoch ends only


def test_grids_saved_one_by_one_stay_bounded_evenly_spaced_and_the_newest_is_kept(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.samples_dir.mkdir(parents=True)
    grids = SampleGrids(run, steps_per_epoch=3, keeping=GridKeeping(most=8))
    to_board = []
    for step in range(3, 3 * 100 + 1, 3):  # 100 epochs of 3 steps, a grid at each end
        path, board = grids.save(step, _image())
        to_board.append(step) if board else None
        kept = [s for s, _ in run.samples()]
        assert kept[-1] == step and len(kept) <= 9 and kept == grids.steps
    older = kept[:-1]
    gaps = {b - a for a, b in zip(older, older[1:])}
    assert len(gaps) == 1 and gaps.pop() % 3 == 0 and len(older) >= 4  # one spacing, whole epochs
    assert set(older) <= set(to_board)  # every grid kept went to TensorBoard too
    assert to_board[:9] == [*range(3, 25, 3), 30] and len(to_board) < 40  # all at first, then fewer and fewer


def test_a_resumed_run_carries_on_from_the_grids_it_has(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.samples_dir.mkdir(parents=True)
    for step in range(2, 42, 2):
        run.save_sample(step, _image())
    grids = SampleGrids(run, steps_per_epoch=2, keeping=GridKeeping(most=8))  # 20 grids on disk, 8 allowed
    grids.save(42, _image())
    kept = [s for s, _ in run.samples()]
    assert kept[-1] == 42 and len(kept) <= 9 and all(s % 2 == 0 for s in kept)


@pytest.mark.slow
def test_a_run_of_many_short_epochs_keeps_few_grids_and_tensorboard_gets_the_spaced_ones(runs_dir, monkeypatch):
    import dcgan.train.keeping as keeping

    monkeypatch.setattr(keeping, "SampleGrids", lambda run, spe: SampleGrids(run, spe, GridKeeping(most=6)))
    run = create_run(tiny_config("many", epochs=40, limit=64, score_samples=0))  # 2 steps an epoch
    assert train_run(run)["state"] == "finished"
    kept = [s for s, _ in run.samples()]
    assert kept == [16, 32, 48, 64, 80]  # 40 epochs into 6: every 8th epoch (16 steps), evenly
    board_steps = _board_image_steps(run)
    if board_steps is not None:
        assert set(kept[:-1]) <= set(board_steps) and len(board_steps) < 40


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
