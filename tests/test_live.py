"""Following a run's metrics, the watchdog's verdicts, the charts and the dataset presets."""

import json
import math

import pytest

from dcgan.config import DATASETS
from dcgan.data.presets import DATASET_PRESETS, preset_config
from dcgan.runs.directory import RunDirectory
from dcgan.runs.live import MetricsFollower, thin
from dcgan.train.watchdog import diagnose
from ui.charts import MAX_POINTS, comparison_figure, training_figure


def record(step, d_loss=1.2, g_loss=1.5, d_real=0.6, d_fake=0.4, steps_per_epoch=100):
    return {
        "step": step,
        "epoch": step / steps_per_epoch,
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": d_real,
        "d_fake": d_fake,
    }


def test_follower_reads_only_the_lines_appended_since_its_last_look(tmp_path):
    run = RunDirectory(tmp_path)
    follower = MetricsFollower(run)
    assert follower.update() == 0 and follower.records == []
    for step in range(1, 51):
        run.append_metrics(record(step))
    assert follower.update() == 50
    size = run.metrics_path.stat().st_size
    for step in range(51, 54):
        run.append_metrics(record(step))
    assert follower.update() == 3
    assert follower.update() == 0
    assert follower.column("step") == list(range(1, 54))
    assert follower.bytes_read == run.metrics_path.stat().st_size  # each byte parsed once, not the file per look
    assert follower.bytes_read - size < size / 10


def test_follower_leaves_a_half_written_line_for_later(tmp_path):
    run = RunDirectory(tmp_path)
    run.append_metrics(record(1))
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 2, "d_lo')
    follower = MetricsFollower(run)
    assert follower.update() == 1
    with open(run.metrics_path, "a") as f:
        f.write('ss": 1.0}\n')
    assert follower.update() == 1 and follower.column("step") == [1, 2]


def test_follower_starts_over_when_a_resume_truncates_the_file(tmp_path):
    run = RunDirectory(tmp_path)
    for step in range(1, 11):
        run.append_metrics(record(step))
    follower = MetricsFollower(run)
    follower.update()
    run.discard_after(5)  # what a resume from a step-5 checkpoint does
    for step in range(6, 20):  # the file grows past its old size again before the next look
        run.append_metrics(record(step))
    follower.update()
    assert follower.column("step") == list(range(1, 20))


def test_thin_keeps_at_most_about_max_points_and_always_the_newest():
    rows = [record(s) for s in range(10_001)]
    kept = thin(rows, 1000)
    assert len(kept) <= 1001 and kept[0] is rows[0] and kept[-1] is rows[-1]
    assert thin(rows[:10], 1000) == rows[:10]


def test_healthy_curves_raise_no_finding():
    rows = [record(s, d_loss=1.2 + 0.1 * math.sin(s)) for s in range(0, 1000, 20)]
    assert diagnose(rows, {"state": "running"}, lr=2e-4) == []


def test_discriminator_winning_outright_is_flagged_with_a_lower_learning_rate():
    rows = [record(s) for s in range(0, 600, 20)] + [
        record(s, d_loss=0.01, g_loss=6.0 + (s % 40) / 40, d_real=0.99, d_fake=0.01) for s in range(600, 1000, 20)
    ]
    findings = diagnose(rows, {"state": "running"}, lr=2e-4)
    assert [f.kind for f in findings] == ["discriminator-wins"]
    assert findings[0].suggested_lr == pytest.approx(1e-4)
    assert "discriminator" in findings[0].message.lower()


def test_losses_that_stopped_moving_are_flagged():
    rows = [record(s, d_loss=0.6931, g_loss=0.6931, d_real=0.5, d_fake=0.5) for s in range(0, 1000, 20)]
    assert [f.kind for f in diagnose(rows, {"state": "running"}, lr=2e-4)] == ["stalled"]


def test_the_early_transient_and_too_few_readings_are_not_judged_and_a_diverged_run_is_explained():
    early = [record(s, d_loss=0.04, d_fake=0.02) for s in range(20, 500, 20)]  # D wins at first, then G catches up
    assert diagnose(early, {"state": "running"}, lr=2e-4) == []
    brief = [record(s) for s in range(0, 800, 20)] + [record(s, d_loss=0.04, d_fake=0.02) for s in (820, 840)]
    assert diagnose(brief, {"state": "running"}, lr=2e-4) == []
    rows = [record(s, d_loss=0.0, d_fake=0.0) for s in (20, 40)]
    status = {"state": "diverged", "message": "losses became NaN between steps 40 and 60"}
    (finding,) = diagnose(rows, status, lr=3e-4)
    assert finding.kind == "diverged" and "NaN" in finding.message and finding.suggested_lr == pytest.approx(1.5e-4)
    # far above the paper's rate, halving is not enough: the paper's 2e-4 is suggested, not 5e+29
    (finding,) = diagnose(rows, status, lr=1e30)
    assert finding.suggested_lr == pytest.approx(2e-4) and "(0.0002)" in finding.advice


def test_training_figure_marks_each_epoch_and_thins_long_runs():
    rows = [record(s, steps_per_epoch=100) for s in range(0, 501, 5)]
    fig = training_figure(rows, steps_per_epoch=100)
    epoch_labels = [a.text for a in fig.layout.annotations if a.text.startswith("epoch")]
    assert epoch_labels == [f"epoch {e}" for e in range(1, 6)]
    assert [t.name for t in fig.data] == ["D loss", "G loss", "D(x) on real images", "D(G(z)) on fakes"]
    many_epochs = training_figure([record(s) for s in range(0, 5001, 5)], steps_per_epoch=100)
    labels = [a.text for a in many_epochs.layout.annotations if a.text.startswith("epoch")]
    lines = [shape for shape in many_epochs.layout.shapes if shape.type == "line"]
    assert len(lines) == 2 * 25 and 5 <= len(labels) <= 8  # every 2nd of 50 boundaries drawn, a few labelled
    long_rows = [record(s) for s in range(20_000)]
    assert len(training_figure(long_rows, 100).data[0].x) <= MAX_POINTS + 1


def test_comparison_figure_has_d_and_g_loss_per_run():
    fig = comparison_figure({"a": [record(1)], "b": [record(1)]})
    assert [t.name for t in fig.data] == ["a · D loss", "a · G loss", "b · D loss", "b · G loss"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_dataset_has_a_preset_that_validates(dataset):
    assert dataset in DATASET_PRESETS
    config = preset_config(dataset, folder="/some/folder" if dataset == "folder" else "")
    config.validate()
    assert config.train.lr == 2e-4 and config.train.beta1 == 0.5 and config.data.dataset == dataset
    json.dumps(config.to_dict())


def test_nvidia_gpus_are_read_from_the_drivers_proc_files(tmp_path):
    from dcgan.hardware import nvidia_gpus

    gpu = tmp_path / "0000:01:00.0"
    gpu.mkdir()
    (gpu / "information").write_text("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 35\n")
    assert nvidia_gpus(tmp_path) == ["NVIDIA H100 80GB HBM3"]
    assert nvidia_gpus(tmp_path / "absent") == []
