"""The quality score in the terminal: the scoring classifier's training on its own progress bar before the
run's first, each score on its own line with its classifier's accuracy, and the scoring's share of the time."""

import pytest
from test_quality_classifiers import write_random_labels

from dcgan.cli import main
from dcgan.quality.tracker import BUDGET_ENV

TINY = [
    "--limit",
    "0",
    "--batch-size",
    "32",
    "--image-size",
    "16",
    "--g-width",
    "8",
    "--d-width",
    "8",
    "--epochs",
    "1",
    "--device",
    "cpu",
    "--score-samples",
    "200",
]


@pytest.mark.slow  # trains a scoring classifier
def test_the_terminal_shows_the_classifiers_training_its_accuracy_and_an_unreliable_score(
    tmp_path, runs_dir, capsys, monkeypatch
):
    monkeypatch.setenv(BUDGET_ENV, "inf")  # score this tiny run's one epoch
    cfg = write_random_labels(tmp_path)  # labels that are noise: the classifier cannot be good
    code = main(["train", "--dataset", "mnist", "--data-dir", cfg.data_dir, "--name", "terminal", *TINY])
    err = capsys.readouterr().err
    assert code == 0
    assert "training the scoring classifier for MNIST — once per dataset" in err
    assert "test accuracy" in err.split("quality at epoch")[0]  # the classifier's, as its training ends
    assert "quality at epoch 1: Fréchet distance" in err and "precision" in err and "coverage" in err
    assert "unreliable: the mnist classifier reads only" in err and "no collapse verdict" in err
    assert "collapsing" not in err
    assert "of quality scoring besides" in err


def test_a_run_too_short_to_afford_a_score_says_so_and_how_to_get_one(tmp_path, runs_dir, capsys, monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "1e-9")
    code = main(["train", "--name", "unscored", "--limit", "256", *TINY[2:]])
    err = capsys.readouterr().err
    assert code == 0 and "no quality score: the run was too short" in err and "--score-every" in err
