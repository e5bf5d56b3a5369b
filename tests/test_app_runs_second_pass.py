"""Issue 14, the runs table and the CLI: the comparison's colours, legends and x axis, the delete confirmation, the
run name's refusal, the CLI's --help and its ETA while status.json has none."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from conftest import ROOT

from dcgan.config import field_index
from dcgan.config_help import field_help
from dcgan.runs.records import Metric


def test_every_train_flag_says_what_it_is_from_the_config_comment():
    out = subprocess.run(
        [sys.executable, "-m", "dcgan", "train", "--help"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    flat = " ".join(out.split())  # argparse wraps the help text
    assert 'image folder, for dataset "folder" (searched recursively)' in flat  # --folder's comment
    assert "setting (default" not in flat  # the old placeholder help
    assert "passes over the training images (default 5;" in flat  # the default `train` starts from
    helps = field_help()
    for name in field_index():
        assert helps.get(name), f"{name} has no trailing comment in dcgan/config.py"
    from dcgan.cli import build_parser

    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    for action in train._actions:
        assert action.help and action.help.strip(), f"{action.option_strings} has no help"


def test_progress_line_says_estimating_until_the_trainer_has_an_eta():
    from dcgan.progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(100, label="run", stream=stream)
    bar.update(3, "steps |", None, force=True)  # status.json's eta_s is None until steps after warm-up are timed
    bar.update(50, "steps |", 90.0, force=True)
    first, second = stream.getvalue().splitlines()
    assert first.endswith("ETA estimating…") and "--:--" not in first
    assert second.endswith("ETA 01:30")


DOT_NAMES = [("..", "'..' is the folder above it"), (".", "the runs folder itself"), (".draft", "hidden")]


@pytest.mark.parametrize("name, why", DOT_NAMES)
def test_a_dot_name_is_refused_with_the_reason_in_the_cli(capsys, runs_dir, name, why):
    from dcgan.cli import main

    assert main(["train", "--name", name, "--limit", "256"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err and "folder under the runs folder" in err


def test_a_dot_name_is_refused_with_the_reason_in_the_app(runs_dir):
    from apptest_helpers import fill_form, open_page, press_start

    at = open_page("train")
    fill_form(at, name="..")
    press_start(at)
    assert any("'..' is the folder above it" in e.value for e in at.error), [e.value for e in at.error]
    assert not (runs_dir.exists() and any(runs_dir.iterdir()))


def metrics_line(step: int, batch: int, seconds_per_step: float, steps_per_epoch: int) -> dict:
    return {
        "epoch": step / steps_per_epoch,
        "step": step,
        "images_seen": step * batch,
        "d_loss": 1.0,
        "g_loss": 1.0,
        "d_real": 0.5,
        "d_fake": 0.5,
        "images_per_s": batch / seconds_per_step,
        "time": step * seconds_per_step,
    }


def quality_line(step: int, steps_per_epoch: int) -> dict:
    return {
        "epoch": step / steps_per_epoch,
        "step": step,
        "frechet": 100.0 - step,
        "confidence": 0.9,
        "feature_space": "street-digits classifier",
        "histogram": [0.1] * 10,
        "reliable": True,
    }


def test_a_run_alone_in_the_quality_chart_keeps_its_colour_and_legend():
    from ui.charts import comparison_figure, quality_comparison_figure, run_colors

    metrics = {
        "a": [metrics_line(s, 32, 0.5, 32) for s in (1, 20, 32)],
        "b": [metrics_line(s, 64, 1.0, 64) for s in (1, 40, 64)],
    }
    colors = run_colors(["a", "b"])
    losses = comparison_figure(metrics, colors=colors)
    quality = quality_comparison_figure({"b": [quality_line(64, 64)]}, colors=colors, metrics=metrics)
    (trace,) = quality.data
    b_loss = next(t for t in losses.data if t.name == "b · D loss")
    assert trace.name == "b" and trace.line.color == b_loss.line.color == colors["b"] != colors["a"]
    assert trace.showlegend is True and quality.layout.showlegend is True  # plotly hides a lone trace's legend


def test_the_comparison_x_axis_lines_runs_up_by_images_seen_or_time():
    from ui.charts import COMPARISON_AXES, at_steps, comparison_figure, quality_comparison_figure

    # a: 32 images a step, 0.5 s a step; b: 64 images a step, 1 s a step; b's score at its step 64
    metrics = {
        "a": [metrics_line(s, 32, 0.5, 32) for s in (1, 20, 32)],
        "b": [metrics_line(s, 64, 1.0, 64) for s in (1, 40, 60)],
    }
    scores = {"b": [quality_line(30, 64), quality_line(64, 64)]}
    for x, expected in ((Metric.IMAGES_SEEN, [1920, 4096]), (Metric.TIME, [30.0, 64.0]), (Metric.STEP, [30, 64])):
        fig = quality_comparison_figure(scores, x, metrics=metrics)
        assert list(fig.data[0].x) == pytest.approx(expected)  # step 64 is past b's last line: at its rate
        assert fig.layout.xaxis.title.text == COMPARISON_AXES[x]
        losses = comparison_figure(metrics, x)
        assert losses.layout.xaxis.title.text == COMPARISON_AXES[x]
        assert list(losses.data[2].x) == [r[x] for r in metrics["b"]]
    assert "batch size" in COMPARISON_AXES[Metric.IMAGES_SEEN] and "seconds" in COMPARISON_AXES[Metric.TIME]
    assert at_steps([], Metric.TIME, [3]) == [None]  # no metrics: no place on a time axis
    assert at_steps(metrics["a"], Metric.TIME, [0, 10]) == pytest.approx([0.0, 5.0])


def fake_run(root, name: str, batch: int, scored: bool) -> None:
    """A finished run's folder as the trainer leaves it, written directly (no training)."""
    from dcgan.config import RunConfig, apply_overrides
    from dcgan.runs.directory import RunDirectory

    run = RunDirectory(root / name)
    run.path.mkdir(parents=True)
    run.write_config(
        {**apply_overrides(RunConfig(), {"name": name, "batch_size": batch}).resolved().to_dict(), "created": 1.0}
    )
    for step in (1, 20, 40):
        run.append_metrics(metrics_line(step, batch, 0.5, 40))
    if scored:
        run.append_quality(quality_line(40, 40))
    run.write_status(
        state="finished", message="training finished", step=40, epoch=1.0, last=metrics_line(40, batch, 0.5, 40)
    )


def chart_spec(at, key: str) -> dict:
    import json

    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key))
    return json.loads(chart.proto.spec)


def test_the_comparison_page_offers_the_x_axis_and_keeps_each_runs_colour(runs_dir):
    from apptest_helpers import open_page, widget

    fake_run(runs_dir, "plain", 32, scored=False)
    fake_run(runs_dir, "scored", 64, scored=True)
    at = open_page("train")
    widget(at, "chosen-runs").set_value(["plain", "scored"]).run()
    assert not at.exception
    assert widget(at, "compare-x").value == Metric.IMAGES_SEEN  # the default: fair across dataset and batch sizes
    widget(at, "compare-x").set_value(Metric.TIME).run()
    losses, quality = chart_spec(at, "comparison-chart"), chart_spec(at, "quality-comparison")
    assert losses["layout"]["xaxis"]["title"]["text"].startswith("training time")
    assert quality["layout"]["xaxis"]["title"]["text"].startswith("training time")
    (score,) = quality["data"]
    scored_loss = next(t for t in losses["data"] if t["name"] == "scored · D loss")
    assert score["name"] == "scored" and score["line"]["color"] == scored_loss["line"]["color"]
    assert score["x"] == [20.0]  # step 40 at 0.5 s a step


def test_the_delete_question_names_a_running_run_and_keeps_it(runs_dir):
    from apptest_helpers import open_page, widget

    from dcgan.runs.directory import RunDirectory

    fake_run(runs_dir, "done", 32, scored=False)
    fake_run(runs_dir, "busy", 32, scored=False)
    busy = RunDirectory(runs_dir / "busy")
    busy.write_status(state="running", message="training", step=20)
    busy.acquire_lock()  # as its trainer would
    try:
        at = open_page("train")
        widget(at, "chosen-runs").set_value(["done", "busy"]).run()
        widget(at, "delete-runs").click().run()
        (question,) = [w.value for w in at.warning if "Delete" in w.value]
        assert (
            question.startswith("Delete done? Its checkpoints") and "busy is still training, so it is kept" in question
        )
        assert widget(at, "confirm-delete-yes").label == "Yes, delete it"
        widget(at, "confirm-delete-yes").click().run()
        assert not at.exception
        assert not (runs_dir / "done").exists() and (runs_dir / "busy").exists()
        assert any("Deleted done." in i.value and "busy is still training" in i.value for i in at.info)
        widget(at, "chosen-runs").set_value(["busy"]).run()
        widget(at, "delete-runs").click().run()
        assert any(w.value.startswith("Nothing to delete: busy is still training") for w in at.warning)
        assert not [b for b in at.button if b.key == "confirm-delete-yes"]  # nothing to confirm
    finally:
        busy.release_lock()
    fake_run(runs_dir, "other", 32, scored=False)
    at = open_page("train")
    widget(at, "chosen-runs").set_value(["busy", "other"]).run()
    widget(at, "delete-runs").click().run()
    assert any(w.value.startswith("Delete busy and other? Their checkpoints") for w in at.warning)
    assert widget(at, "confirm-delete-yes").label == "Yes, delete 2 runs"
