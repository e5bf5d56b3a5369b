"""Issue 14, the runs table and the CLI: the comparison's colours, legends and x axis, the delete confirmation, the
run name's refusal, the CLI's --help and its ETA while status.json has none."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from conftest import ROOT

from dcgan.config import field_help, field_index


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
