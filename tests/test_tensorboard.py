"""TensorBoard event files in the run folder (dcgan/runs/tensorboard_log.py): what they hold matches metrics.jsonl,
quality.jsonl and the saved grids, one run per run folder, a resume hides what a killed process logged after its
checkpoint, and training neither needs tensorboard nor stops when its file cannot be written."""

import errno
import sys

import pytest
from conftest import tiny_config

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import plugin_data_pb2

from dcgan.runs.manage import create_run
from dcgan.runs.tensorboard_log import METRIC_TAGS, QUALITY_TAGS, event_files
from dcgan.train.trainer import train_run

EVERYTHING = {"scalars": 0, "images": 0, "tensors": 0}  # no sampling: every point


def accumulator(run) -> EventAccumulator:
    events = EventAccumulator(str(run.path), size_guidance=EVERYTHING)
    events.Reload()
    return events


def steps(events: EventAccumulator, tag: str) -> list[int]:
    return [e.step for e in events.Scalars(tag)]


def test_event_file_holds_the_metrics_scores_grids_and_settings_of_the_run(runs_dir, monkeypatch):
    monkeypatch.setenv("DCGAN_SCORE_BUDGET", "inf")  # score every epoch: a tiny run's epochs are too short to afford it
    run = create_run(tiny_config("board", epochs=2))
    final = train_run(run)
    assert final["state"] == "finished" and final["tensorboard"].startswith("event file events.out.tfevents.")
    assert len(event_files(run.path)) == 1
    events = accumulator(run)

    metrics = run.read_metrics().records
    assert [r["step"] for r in metrics] == [1, *range(2, 17, 2)]  # the first step after a start, then every log_every
    for key, tag in METRIC_TAGS.items():  # every metrics.jsonl line, at its step, the same number
        assert [(e.step, e.value) for e in events.Scalars(tag)] == [
            (r["step"], pytest.approx(r[key], rel=1e-6)) for r in metrics
        ], tag
    quality = run.read_quality()
    assert [q["step"] for q in quality] == [8, 16]
    for key, tag in QUALITY_TAGS.items():
        assert [(e.step, e.value) for e in events.Scalars(tag)] == [
            (q["step"], pytest.approx(q[key], rel=1e-6)) for q in quality
        ], tag

    grids = run.samples()
    images = events.Images("samples")
    assert [e.step for e in images] == [step for step, _ in grids] == [8, 16]
    assert [e.encoded_image_string for e in images] == [path.read_bytes() for _, path in grids]  # the same PNGs
    assert images[0].width > 16 and images[0].height > 16
    assert [(e.step, e.encoded_image_string) for e in events.Images("reals")] == [(0, run.reals_path.read_bytes())]

    hparams = events.PluginTagToContent("hparams")
    assert set(hparams) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["train.lr"].number_value == pytest.approx(2e-4)
    assert start.hparams["model.g_width"].number_value == 8
    assert start.hparams["data.dataset"].string_value == "street-digits"
    assert start.hparams["model.g_batchnorm"].string_value == "true"
    assert start.hparams["device_used"].string_value.startswith("cpu")
    assert "data.data_dir" not in start.hparams and "data.folder" not in start.hparams  # a path here; unset
    experiment = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} <= set(events.Tags()["scalars"])
    assert "custom_scalars__config__" in events.Tags()["tensors"]

    # The settings are in the run's own folder: TensorBoard lists one run per run folder, not a sub-folder run.
    assert not list(run.path.glob("*/events.out.tfevents.*"))
    runs = EventMultiplexer().AddRunsFromDirectory(str(runs_dir))
    assert list(runs.Runs()) == ["board"]


def test_a_resume_hides_what_the_killed_process_logged_after_its_checkpoint(runs_dir):
    run = create_run(tiny_config("killed", epochs=2, checkpoint_every_s=1e9))  # checkpoints at epoch ends: step 8

    def die_at_step_12(status):
        if status.get("step", 0) >= 12:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train_run(run, progress_fn=die_at_step_12)
    first = event_files(run.path)[0]
    logged = [e.step for e in EventFileLoader(str(first)).Load() if e.summary.value and e.step > 0]
    assert max(logged) == 12  # steps 10 and 12 are in the first file, after the checkpoint at step 8
    final = train_run(run)  # resumes from step 8: metrics.jsonl dropped 10 and 12, then has them again
    assert final["state"] == "finished"
    assert len(event_files(run.path)) == 2  # one file per training process
    metric_steps = [r["step"] for r in run.read_metrics().records]
    assert metric_steps == [1, *range(2, 17, 2)]  # a new run's first step, then every log_every
    events = accumulator(run)
    for tag in METRIC_TAGS.values():
        assert steps(events, tag) == metric_steps, tag  # no 10, 12, 10, 12 zig-zag
    assert [e.step for e in events.Images("samples")] == [8, 16]
    # TensorBoard's server reads with plugin_event_accumulator (`--load_fast=false`, or no data server binary),
    # which takes a run's first START for its beginning: the killed process's own START makes the resume's count.
    served = plugin_event_accumulator.EventAccumulator(str(run.path), size_guidance=EVERYTHING)
    served.Reload()
    assert [e.step for e in served.Tensors("loss/d_loss")] == metric_steps


def test_without_tensorboard_training_is_the_same_and_writes_no_event_file(runs_dir, monkeypatch):
    with_board = create_run(tiny_config("with"))
    train_run(with_board)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails, as when not installed
    without = create_run(tiny_config("without"))
    final = train_run(without)
    assert final["state"] == "finished" and "not installed" in final["tensorboard"]
    assert event_files(without.path) == [] and len(event_files(with_board.path)) == 1
    losses = [(r["step"], r["d_loss"], r["g_loss"]) for r in without.read_metrics().records]
    assert losses == [(r["step"], r["d_loss"], r["g_loss"]) for r in with_board.read_metrics().records]


def test_a_failing_event_file_is_said_once_and_training_goes_on(runs_dir, monkeypatch, capsys):
    from dcgan.runs import tensorboard_log

    writes = []

    class FillingDisk:
        """The event file, on a disk that is full after its first records."""

        def __init__(self, path, mode):
            self.file = open(path, mode)

        def write(self, data):
            writes.append(data)
            if len(writes) > 10:  # after the settings and the first lines
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.file.write(data)

        def flush(self):
            self.file.flush()

        def close(self):
            self.file.close()

    monkeypatch.setattr(tensorboard_log, "open", FillingDisk, raising=False)
    run = create_run(tiny_config("full-board", epochs=2))
    final = train_run(run)
    assert final["state"] == "finished" and final["step"] == 16
    assert [r["step"] for r in run.read_metrics().records] == [
        1,
        *range(2, 17, 2),
    ]  # the first step after a start, then every log_every
    assert "disk full" in final["tensorboard"] and "training goes on" in final["tensorboard"]
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tensorboard:")]
    assert len(said) == 1 and "disk full" in said[0]
    assert len(writes) == 11  # off after the failed write: nothing more was tried


def test_a_restart_from_step_0_deletes_the_old_event_files(runs_dir):
    run = create_run(tiny_config("restarted"))
    train_run(run)
    old = event_files(run.path)
    run.discard_training()  # what `resume --restart` does before training again
    train_run(run)
    new = event_files(run.path)
    assert len(old) == len(new) == 1 and old != new
    assert steps(accumulator(run), "loss/d_loss") == [
        r["step"] for r in run.read_metrics().records
    ]  # the new run alone


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 4096 + 7, 200_000])
def test_the_fast_record_checksum_is_tensorflows_crc32c(size):
    """The sample grids' records are checksummed block-wise with numpy; TensorBoard's readers check them."""
    import random

    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    from dcgan.runs.tensorboard_log import _Crc32c

    data = random.Random(size).randbytes(size)
    assert _Crc32c().masked(data) == masked_crc32c(data)
