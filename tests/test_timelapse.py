"""Issue 16, watching samples form: a run's grids as a labelled timelapse (GIF, MP4, the CLI), several runs lined
up by images seen, and the comparison's settings diff and best/final scores."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from conftest import ROOT
from PIL import Image

from dcgan.runs.directory import RunDirectory


def grid_png(shade: int, size: int = 34) -> Image.Image:
    return Image.new("RGB", (size, size), (shade, 255 - shade, 128))


def fake_run(root, name: str, batch: int, steps: list[int], steps_per_epoch: int, **train) -> RunDirectory:
    """A run folder as the trainer leaves it (config, status, grids), written directly: no training."""
    run = RunDirectory(root / name)
    run.path.mkdir(parents=True)
    run.write_config(
        {
            "name": name,
            "model": {"image_size": 32, "g_batchnorm": True},
            "data": {"dataset": "street-digits", "limit": 2048},
            "train": {"epochs": 5, "batch_size": batch, "lr": 0.0002, **train},
            "created": 1.0,
        }
    )
    run.write_status(state="finished", step=steps[-1] if steps else 0, steps_per_epoch=steps_per_epoch)
    for step in reversed(steps):  # written newest first: the timelapse must still go by step
        run.save_sample(step, grid_png(step % 256))
    return run


def quality_line(step: int, frechet: float, reliable: bool = True, epoch: float | None = None) -> dict:
    return {
        "epoch": epoch if epoch is not None else step / 10,
        "step": step,
        "frechet": frechet,
        "confidence": 0.9,
        "coverage": 0.5,
        "feature_space": "street-digits classifier",
        "classifier_accuracy": 0.99 if reliable else 0.5,
        "histogram": [0.1] * 10,
        "reliable": reliable,
    }


def test_frames_go_by_step_and_say_epoch_step_and_images_seen(tmp_path):
    from dcgan.runs.timelapse import run_timelapse

    run = fake_run(tmp_path, "a", 64, [30, 10, 20], steps_per_epoch=20)
    (run.samples_dir / "notes.png").write_bytes(b"not a grid")  # not stepNNNNNNN.png: never a frame
    timelapse = run_timelapse(run)
    assert [f.step for f in timelapse.frames] == [10, 20, 30]
    assert [f.label() for f in timelapse.frames] == [
        "epoch 0.50 · step 10 · 640 images",
        "epoch 1.00 · step 20 · 1,280 images",
        "epoch 1.50 · step 30 · 1,920 images",
    ]
    assert timelapse.notes == []


def test_a_damaged_grid_is_left_out_with_a_note(tmp_path):
    from dcgan.runs.timelapse import frame_images, run_timelapse, timelapse_bytes

    run = fake_run(tmp_path, "a", 64, [10, 20, 30], steps_per_epoch=20)
    (run.samples_dir / "step0000015.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    good = run.samples_dir / "step0000020.png"
    good.write_bytes(good.read_bytes()[:60])  # a torn write
    timelapse = run_timelapse(run)
    assert [f.step for f in timelapse.frames] == [10, 30]
    assert len(timelapse.notes) == 2 and "step0000015.png" in timelapse.notes[0] and "left out" in timelapse.notes[0]
    assert len(frame_images(timelapse)) == 2
    data, _ = timelapse_bytes(run, "gif")
    assert Image.open(io.BytesIO(data)).n_frames == 2


def test_grids_thinned_away_while_a_timelapse_is_made_are_left_out_quietly(tmp_path, monkeypatch):
    """A long run's trainer deletes older grids as it saves new ones (runs/sample_grids.py): one gone between the
    listing and the reading is skipped, and one gone after the reading is already held in memory."""
    from pathlib import Path

    from dcgan.runs.timelapse import frame_images, run_timelapse

    run = fake_run(tmp_path, "a", 64, [10, 20, 30], steps_per_epoch=10)
    read = Path.read_bytes

    def thinned_meanwhile(path):
        if path.name == "step0000020.png":
            path.unlink()  # deleted by the trainer after run.samples() listed it
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", thinned_meanwhile)
    timelapse = run_timelapse(run)
    monkeypatch.undo()
    assert [f.step for f in timelapse.frames] == [10, 30] and timelapse.notes == []
    (run.samples_dir / "step0000010.png").unlink()  # thinned after the reading
    assert len(frame_images(timelapse)) == 2


def test_the_gif_holds_every_grid_labelled_and_the_last_longest(tmp_path):
    from dcgan.runs.timelapse import TimelapseConfig, timelapse_bytes

    run = fake_run(tmp_path, "a", 64, [10, 20, 30, 40], steps_per_epoch=20)
    data, timelapse = timelapse_bytes(run, "gif")
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == 4
    durations = []
    for i in range(4):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert durations == [TimelapseConfig.frame_ms] * 3 + [TimelapseConfig.hold_last_ms]
    gif.seek(0)
    first = gif.convert("RGB")
    assert first.width >= TimelapseConfig.min_width  # a 34 px grid is enlarged to be seen
    strip = first.crop((0, 0, first.width, 20))
    assert strip.convert("L").getextrema()[0] < 100  # the label's dark text is drawn above the grid


def test_the_mp4_decodes_to_every_grid_and_the_held_last(tmp_path):
    av = pytest.importorskip("av")
    from dcgan.runs.timelapse import TimelapseConfig, timelapse_bytes

    run = fake_run(tmp_path, "a", 64, [10, 20, 30], steps_per_epoch=20)
    data, _ = timelapse_bytes(run, "mp4")
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    held = round(TimelapseConfig.hold_last_ms / TimelapseConfig.frame_ms)
    assert len(frames) == 2 + held
    assert frames[0].width % 2 == 0 and frames[0].height % 2 == 0  # yuv420p needs even sizes


def test_without_pyav_mp4_says_what_to_install(tmp_path, monkeypatch):
    from dcgan.runs.timelapse import TimelapseUnavailable, timelapse_bytes

    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    run = fake_run(tmp_path, "a", 64, [10, 20], steps_per_epoch=20)
    with pytest.raises(TimelapseUnavailable, match=r"dcgan-studio\[video\]"):
        timelapse_bytes(run, "mp4")


def test_runs_line_up_by_images_seen_across_batch_sizes(tmp_path):
    from dcgan.runs.timelapse import align_by_images, aligned_images, run_timelapse

    small = fake_run(tmp_path, "b64", 64, [10, 20, 30], steps_per_epoch=32)  # 640, 1280, 1920 images
    large = fake_run(tmp_path, "b128", 128, [5, 10, 15, 20], steps_per_epoch=8)  # 640 ... 2560: a smaller set
    late = fake_run(tmp_path, "late", 32, [60], steps_per_epoch=100)  # its first grid at 1,920 images
    timelapses = [run_timelapse(r) for r in (small, large, late)]
    alignment = align_by_images(timelapses)
    assert alignment.images_seen == [640, 1280, 1920, 2560]
    assert alignment.shown == {"b64": [0, 1, 2, 2], "b128": [0, 1, 2, 3], "late": [None, None, 0, 0]}
    by_moment = {m: timelapses[1].frames[i].label() for m, i in zip(alignment.images_seen, alignment.shown["b128"])}
    assert by_moment[1280] == "epoch 1.25 · step 10 · 1,280 images"  # the same images as b64's step 20
    pictures = aligned_images(timelapses, alignment)
    assert len(pictures) == 4 and len({p.size for p in pictures}) == 1  # one size: a valid animation


def test_runs_that_cannot_say_their_images_seen_are_not_lined_up(tmp_path):
    from dcgan.runs.timelapse import TimelapseUnavailable, align_by_images, run_timelapse

    run = fake_run(tmp_path, "a", 64, [10], steps_per_epoch=20)
    run.write_config({"name": "a"})  # no batch size, and no metrics line to read images seen from
    with pytest.raises(TimelapseUnavailable, match="images seen"):
        align_by_images([run_timelapse(run)])


def test_a_long_run_is_spread_evenly_keeping_the_first_and_last(tmp_path):
    from dcgan.runs.timelapse import run_timelapse, spread_evenly

    assert spread_evenly(list(range(10)), 4) == [0, 3, 6, 9]
    run = fake_run(tmp_path, "a", 64, list(range(1, 11)), steps_per_epoch=5)
    timelapse = run_timelapse(run, max_frames=4)
    assert [f.step for f in timelapse.frames] == [1, 4, 7, 10]
    assert "10 grids" in timelapse.notes[0]


# -- the CLI ------------------------------------------------------------------------------------------------
def cli(capsys, *args, runs_dir) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `python -m dcgan timelapse ARGS`, run in this process."""
    from dcgan.cli import main

    status = main(["timelapse", *args, "--runs-dir", str(runs_dir)])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_help_lists_timelapse():
    out = subprocess.run([sys.executable, "-m", "dcgan", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    assert "timelapse" in out and "GIF or MP4" in " ".join(out.split())


def test_cli_writes_a_gif_that_plays(tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs, "a", 64, [10, 20, 30], steps_per_epoch=20)
    out = tmp_path / "a.gif"
    status, stdout, stderr = cli(capsys, "a", "-o", str(out), runs_dir=runs)
    assert status == 0, stderr
    assert Image.open(out).n_frames == 3
    assert "wrote 3 grids of a (epoch 0.50 · step 10" in stdout


@pytest.mark.parametrize(
    "args, says",
    [
        (["nope"], "no run folder 'nope'"),
        (["empty"], "has no readable sample grid"),
        (["a", "--format", "avi"], "invalid choice: 'avi'"),
        (["a", "--format", "mp4", "-o", "x.gif"], "must end in .mp4"),
        (["a", "-o", "no/such/folder/x.gif"], "does not exist"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(tmp_path, capsys, monkeypatch, args, says):
    runs = tmp_path / "runs"
    fake_run(runs, "a", 64, [10, 20], steps_per_epoch=20)
    fake_run(runs, "empty", 64, [], steps_per_epoch=20)
    monkeypatch.chdir(tmp_path)
    status, stdout, stderr = cli(capsys, *args, runs_dir=runs)
    assert status == 2
    assert stderr.count("\n") == 1 and says in stderr and stdout == ""
    assert not list(tmp_path.glob("*.gif"))  # nothing written


# -- the comparison's table ---------------------------------------------------------------------------------
def test_only_the_settings_that_differ_are_listed_flattened():
    from dcgan.runs.compare import MISSING, flatten, settings_that_differ, shown_value

    a = {"name": "a", "created": 1, "model": {"g_batchnorm": True}, "train": {"lr": 2e-4, "batch_size": 64}}
    b = {"name": "b", "created": 2, "model": {"g_batchnorm": False}, "train": {"lr": 2e-4, "batch_size": 128}}
    c = {"name": "c", "created": 3, "model": {"g_batchnorm": True}, "train": {"lr": 2e-4, "batch_size": 64, "d": 2}}
    rows = settings_that_differ({"a": flatten(a), "b": flatten(b), "c": flatten(c)})
    assert rows == [
        ("model.g_batchnorm", {"a": True, "b": False, "c": True}),
        ("train.batch_size", {"a": 64, "b": 128, "c": 64}),
        ("train.d", {"a": MISSING, "b": MISSING, "c": 2}),
    ]  # lr is the same everywhere; name and created always differ and say nothing
    assert [shown_value(v) for v in (2e-4, True, False, 64, "")] == ["0.0002", "on", "off", "64", '""']


def test_final_is_the_newest_step_and_best_the_lowest_earliest():
    from dcgan.runs.compare import incomparable_spaces, summarize_scores

    lines = [quality_line(30, 50.0), quality_line(10, 90.0), quality_line(20, 40.0), quality_line(40, 40.0)]
    summary = summarize_scores(lines)
    assert summary.final["step"] == 40 and summary.best["step"] == 20 and summary.scores == 4
    assert summary.unreliable is None
    doubtful = summarize_scores([quality_line(10, 9.0, reliable=False)])
    assert "unreliable" in doubtful.unreliable
    assert summarize_scores([]) is None
    other = summarize_scores([{**quality_line(10, 9.0), "feature_space": "mnist classifier"}])
    spaces = incomparable_spaces({"a": summary, "b": other, "c": None})
    assert spaces == ["mnist classifier", "street-digits classifier"]
    assert incomparable_spaces({"a": summary, "b": doubtful}) == []


def test_a_timelapse_of_chosen_steps_leaves_out_grids_saved_since(tmp_path):
    from dcgan.runs.timelapse import timelapse_bytes

    run = fake_run(tmp_path, "a", 64, [10, 20, 30], steps_per_epoch=20)  # Play was pressed with these three
    run.save_sample(40, grid_png(40))  # saved before the animation was made
    data, timelapse = timelapse_bytes(run, "gif", only_steps=(10, 20, 30))
    assert [f.step for f in timelapse.frames] == [10, 20, 30] and Image.open(io.BytesIO(data)).n_frames == 3
