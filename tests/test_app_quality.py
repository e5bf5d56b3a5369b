"""The run view's quality section through Streamlit's AppTest: the scoring classifier's progress while a run
waits on it, and a score that cannot be trusted said so in words, with no collapse verdict."""

import json

from apptest_helpers import open_page
from conftest import tiny_config


def make_run(name):
    from dcgan.runs.manage import create_run

    return create_run(tiny_config(name, epochs=2))


def test_the_classifier_being_trained_has_its_own_progress_bar_in_the_run_view(runs_dir):
    run = make_run("preparing")
    run.acquire_lock()  # a live trainer holds the run (here: this test)
    try:
        run.write_status(
            state="starting",
            message="training the scoring classifier for MNIST — once per dataset, cached for later runs",
            preparing={
                "task": "scoring classifier",
                "done": 0.25,
                "detail": "epoch 15 of at most 60 · validation accuracy 97.3%",
                "eta_s": 42.0,
            },
        )
        at = open_page("train", run="preparing")
    finally:
        run.release_lock()
    bars = [p for p in at.get("progress") if "scoring classifier for MNIST" in p.proto.text]
    assert bars and bars[0].proto.value == 25
    assert "validation accuracy 97.3%" in bars[0].proto.text and "at most 00:42 left" in bars[0].proto.text


def test_an_unreliable_score_is_a_warning_with_its_accuracy_and_no_collapse_verdict(runs_dir):
    run = make_run("unreliable")
    run.write_status(
        state="finished",
        total_steps=16,
        step=16,
        steps_per_epoch=8,
        epoch=2.0,
        elapsed_s=20.0,
        scoring_s=0.5,
        images_per_s=100.0,
    )
    line = {
        "epoch": 1,
        "step": 8,
        "frechet": 40.0,
        "confidence": 0.4,
        "inception_like": 1.1,
        "histogram": [0.9] + [0.1 / 9] * 9,
        "collapsed": None,
        "feature_space": "svhn classifier",
        "classifier_accuracy": 0.148,
        "reliable": False,
        "precision": 0.5,
        "recall": 0.4,
        "density": 0.6,
        "coverage": 0.3,
        "samples": 250,
        "seconds": 0.25,
    }
    run.quality_path.write_text(json.dumps(line) + "\n" + json.dumps({**line, "epoch": 2, "step": 16}) + "\n")
    at = open_page("train", run="unreliable")
    warnings = [w.value for w in at.warning if "unreliable" in w.value]
    assert warnings and "14.8%" in warnings[0] and "no collapse verdict" in warnings[0]
    captions = " ".join(c.value for c in at.caption)
    assert "collapsing" not in captions and "svhn classifier, test accuracy 14.8%" in captions
    assert "2.5% of the 00:20 of training" in captions  # the score's cost, beside training's own time
