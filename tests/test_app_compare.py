"""Issue 16 in the app: the Train page's timelapse controls (▶ Play, GIF and MP4 downloads) and the run
comparison's side-by-side grids under one slider, its settings diff and its final and best scores."""

from __future__ import annotations

import pytest
from apptest_helpers import open_page, widget
from test_timelapse import grid_png, quality_line

from dcgan.runs.directory import RunDirectory


def finished_run(root, name: str, batch: int, grid_steps: list[int], steps_per_epoch: int, **settings) -> RunDirectory:
    """A finished run's folder with a full config.json, metrics, grids and scores, written directly (no training)."""
    from dcgan.config import RunConfig, apply_overrides

    run = RunDirectory(root / name)
    run.path.mkdir(parents=True)
    config = apply_overrides(RunConfig(), {"name": name, "batch_size": batch, **settings}).resolved().to_dict()
    run.write_config({**config, "created": 1.0})
    last = grid_steps[-1]
    for step in grid_steps:
        run.append_metrics(
            {"epoch": step / steps_per_epoch, "step": step, "images_seen": step * batch, "d_loss": 1.0, "g_loss": 1.0}
        )
        run.save_sample(step, grid_png(step % 256))
    run.write_status(state="finished", message="training finished", step=last, epoch=last / steps_per_epoch)
    run.write_status(steps_per_epoch=steps_per_epoch, total_steps=last)
    return run


def images(at) -> list[tuple[str, str]]:
    """(caption, url) of every image on the page."""
    return [(i.proto.imgs[0].caption, i.proto.imgs[0].url) for i in at.get("image") if i.proto.imgs]


def test_the_run_view_plays_the_timelapse_and_offers_gif_and_mp4(runs_dir):
    run = finished_run(runs_dir, "solo", 64, [10, 20, 30], steps_per_epoch=20)
    at = open_page("train", run="solo")
    labels = [b.label for b in at.get("download_button")]
    assert "⬇ GIF" in labels and "⬇ MP4" in labels
    before = images(at)
    widget(at, f"timelapse-play:{run.path}").click().run()
    assert not at.exception, at.exception
    gifs = [url for _, url in images(at) if url not in {u for _, u in before}]
    assert len(gifs) == 1  # the animation, beside the still grid
    assert any("Timelapse of 3 grids" in c.value for c in at.caption)
    run.save_sample(40, grid_png(40))  # a grid arriving while the animation plays: said, not rebuilt
    at.run()
    assert any("Timelapse of 3 grids" in c.value and "1 newer grid since" in c.value for c in at.caption)
    assert widget(at, f"timelapse-play:{run.path}").label == "■ Stop timelapse"
    widget(at, f"timelapse-play:{run.path}").click().run()
    assert not any("Timelapse of" in c.value for c in at.caption)


def test_the_comparison_lines_grids_up_by_images_seen_and_plays_them_together(runs_dir):
    finished_run(runs_dir, "b64", 64, [10, 20, 30], steps_per_epoch=32)
    finished_run(runs_dir, "b128", 128, [5, 10, 15, 20], steps_per_epoch=16, lr=4e-4)
    at = open_page("train", run="b64")
    widget(at, "chosen-runs").set_value(["b64", "b128"]).run()
    assert not at.exception, at.exception
    moment = next(s for s in at.select_slider if s.key == "compare-moment")
    assert list(moment.options) == ["640", "1,280", "1,920", "2,560"] and moment.value == 2560
    moment.set_value(1280).run()
    captions = [c for c, _ in images(at)]
    assert "b64 · epoch 0.62 · step 20 · 1,280 images" in captions
    assert "b128 · epoch 0.62 · step 10 · 1,280 images" in captions  # the same images seen, half the steps
    moment = next(s for s in at.select_slider if s.key == "compare-moment")
    moment.set_value(2560).run()
    assert "b64 · epoch 0.94 · step 30 · 1,920 images · its last grid" in [c for c, _ in images(at)]  # b64 has ended
    before = {u for _, u in images(at)}
    widget(at, "compare-play").click().run()
    assert not at.exception, at.exception
    assert len([u for _, u in images(at) if u not in before]) == 1  # one animation for both runs
    assert any("4 moments, from 640 to 2,560 images seen" in c.value for c in at.caption)
    RunDirectory(runs_dir / "b64").save_sample(60, grid_png(60))  # a training run saves another grid
    at.run()  # the animation goes on as it was, and says so
    assert any("4 moments" in c.value and "Newer grids have been saved since" in c.value for c in at.caption)
    assert widget(at, "compare-play").label == "■ Stop"
    assert "compare-download-gif" in [b.key for b in at.get("download_button")]


def table(at) -> dict[str, dict]:
    """The comparison table's rows by their first column (the runs table is the other dataframe on the page)."""
    frame = next(d.value for d in at.dataframe if "setting" in d.value.columns)
    return {row["setting"]: row for row in frame.to_dict("records")}


def test_the_comparison_table_shows_what_differs_and_the_final_and_best_scores(runs_dir):
    steady = finished_run(runs_dir, "steady", 64, [10, 20], steps_per_epoch=10)
    doubtful = finished_run(runs_dir, "doubtful", 128, [10, 20], steps_per_epoch=10, lr=1e-4)
    for record in (quality_line(10, 80.0, epoch=1), quality_line(20, 60.0, epoch=2), quality_line(30, 70.0, epoch=3)):
        steady.append_quality(record)
    doubtful.append_quality(quality_line(10, 50.0, reliable=False, epoch=1))
    at = open_page("train", run="steady")
    widget(at, "chosen-runs").set_value(["steady", "doubtful"]).run()
    assert not at.exception, at.exception
    rows = table(at)
    assert rows["train.batch_size"]["steady"] == "64" and rows["train.batch_size"]["doubtful"] == "128"
    assert rows["train.lr"]["steady"] == "0.0002" and rows["train.lr"]["doubtful"] == "0.0001"
    assert "train.epochs" not in rows and "name" not in rows and "created" not in rows  # the same, or always differ
    final, best = rows["Fréchet distance, final (lower is better)"], rows["Fréchet distance, best (lower is better)"]
    assert final["steady"] == "70.0 at epoch 3" and best["steady"] == "60.0 at epoch 2"
    assert final["doubtful"] == "50.0 at epoch 1 (unreliable)"
    assert any("doubtful: quality score unreliable" in w.value for w in at.warning)


@pytest.mark.parametrize("damage", ["torn", "missing folder"])
def test_the_comparison_survives_damaged_or_missing_grids(runs_dir, damage):
    whole = finished_run(runs_dir, "whole", 64, [10, 20], steps_per_epoch=10)
    other = finished_run(runs_dir, "other", 64, [10, 20], steps_per_epoch=10)
    if damage == "torn":
        (other.samples_dir / "step0000020.png").write_bytes(b"\x89PNG torn")
    else:
        for _, path in other.samples():
            path.unlink()
    at = open_page("train", run="whole")
    widget(at, "chosen-runs").set_value(["whole", "other"]).run()
    assert not at.exception, at.exception
    if damage == "torn":
        assert any("step0000020.png cannot be read" in c.value for c in at.caption)
    else:
        assert any("other**: no grid yet" in i.value for i in at.info)
    assert any(c.startswith("whole · ") for c, _ in images(at)), whole.name
