"""The Train page's choice of GPUs: hidden on machines with one GPU or none, and 'all N GPUs' launching torchrun."""

from apptest_helpers import open_page, press_start, widget

import ui.gpu_choice
from dcgan.runs import manage
from dcgan.runs.launch_command import trainer_command

KEY = "street-digits:processes"


def test_no_gpu_choice_on_a_machine_with_one_gpu_or_none(runs_dir, monkeypatch):
    for gpus in (0, 1):
        monkeypatch.setattr(ui.gpu_choice, "gpu_count", lambda gpus=gpus: gpus)
        at = open_page("train")
        assert not [r for r in at.radio if r.key == KEY]


class _RecordedLaunch:
    """Stands in for subprocess.Popen: records the trainer's command instead of starting it."""

    commands: list[list[str]] = []

    def __init__(self, argv, **kwargs):
        self.commands.append(list(argv))
        self.pid = 4242

    def wait(self):
        return 0


def test_all_gpus_launches_the_run_through_torchrun_with_one_process_per_gpu(runs_dir, monkeypatch):
    monkeypatch.setattr(ui.gpu_choice, "gpu_count", lambda: 4)
    monkeypatch.setattr(manage, "gpu_count", lambda: 4)
    monkeypatch.setattr(manage.subprocess, "Popen", _RecordedLaunch)
    _RecordedLaunch.commands.clear()
    at = open_page("train")
    choice = widget(at, KEY)
    assert choice.options == ["one GPU", "all 4 GPUs (torchrun)"]
    choice.set_value(4)
    widget(at, "street-digits:name").set_value("four-gpus")
    press_start(at)
    assert not [e.value for e in at.error if "Could not start" in e.value]  # (the run view says no trainer came)
    assert _RecordedLaunch.commands == [trainer_command(runs_dir / "four-gpus", 4)]


def test_all_gpus_refused_in_words_when_the_batch_does_not_split(runs_dir, monkeypatch):
    monkeypatch.setattr(ui.gpu_choice, "gpu_count", lambda: 3)
    monkeypatch.setattr(manage, "gpu_count", lambda: 3)
    at = open_page("train")
    widget(at, KEY).set_value(3)
    press_start(at)
    assert any("multiple of 3" in e.value for e in at.error)
    assert not runs_dir.exists() or not list(runs_dir.iterdir())  # no run folder made
