"""The quality score's own classifiers on about 1,500 labelled images in MNIST's and SVHN's file formats.

The real sets cannot be downloaded here; dcgan/data/stand_in_sets.py writes street-digits renders in their exact
formats where the loaders look, so the whole path (torchvision's readers, the classifier's training, the
trainer, the CLI) is the real one. Each classifier trains in about half a minute on this CPU.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from dcgan.config import DataConfig
from dcgan.data.loading import load_images
from dcgan.data.stand_in_sets import write_mnist_format, write_svhn_format
from dcgan.quality.digit_classifier import classify, load_classifier, save_classifier
from dcgan.quality.score import (
    RELIABLE_ACCURACY,
    QualityConfig,
    RealReference,
    describe_score,
    reliability_note,
    score_images,
)
from dcgan.quality.scoring_classifier import (
    RECIPE,
    classifier_for,
    classifier_path,
    ensure_classifier,
    needs_training,
    source_files,
    split_indices,
)
from dcgan.quality.tracker import BUDGET_ENV

SET_SIZE = 1500
FORMATS = {"mnist": (write_mnist_format, 1), "svhn": (write_svhn_format, 3)}  # writer, channels of a run

pytestmark = pytest.mark.slow  # every test here trains a scoring classifier (the two formats' take minutes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Per format: (its data config, its classifier, the progress it reported) — each trained once here."""
    out = {}
    for dataset, (write, _) in FORMATS.items():
        root = tmp_path_factory.mktemp(dataset)
        write(root, SET_SIZE, seed=11)
        cfg = DataConfig(dataset=dataset, data_dir=str(root))
        seen = []
        ensure_classifier(cfg, seen.append)
        out[dataset] = (cfg, classifier_for(cfg), seen)
    return out


def write_random_labels(root, count=600):
    """An MNIST-format set whose labels are noise: no classifier can read it, so its score is unreliable."""
    raw = write_mnist_format(root, count, seed=21)
    labels = np.random.default_rng(0).integers(0, 10, count).astype(np.uint8)
    (raw / "train-labels-idx1-ubyte").write_bytes(np.array([0x00000801, count], ">i4").tobytes() + labels.tobytes())
    return DataConfig(dataset="mnist", data_dir=str(root))


@pytest.mark.parametrize("dataset", FORMATS)
def test_a_classifier_trained_until_good_reports_its_held_out_accuracy(trained, dataset):
    cfg, classifier, seen = trained[dataset]
    meta = classifier.meta
    assert classifier.feature_space == f"{dataset} classifier" and classifier.accuracy == meta["test_accuracy"]
    assert meta["test_accuracy"] >= RELIABLE_ACCURACY and meta["recipe"] == RECIPE
    assert meta["epochs"] > 3 and meta["epochs"] == len(seen)  # not the old fixed 3 epochs; progress every epoch
    assert "no better validation accuracy" in meta["stopped"] or meta["epochs"] == meta["max_epochs"]
    split = split_indices(SET_SIZE)
    assert (meta["test_images"], meta["validation_images"], meta["train_images"]) == (
        len(split.test),
        len(split.validation),
        len(split.train),
    )
    assert not set(split.test.tolist()) & set(split.train.tolist())
    assert [p.epoch for p in seen] == list(range(1, len(seen) + 1)) and seen[-1].eta_s >= 0


def test_svhn_needs_only_its_training_file(trained):
    cfg, classifier, _ = trained["svhn"]
    assert (Path(cfg.data_dir) / "svhn" / "train_32x32.mat").exists()
    assert not (Path(cfg.data_dir) / "svhn" / "test_32x32.mat").exists()
    assert classifier.accuracy >= RELIABLE_ACCURACY


@pytest.mark.parametrize("dataset", FORMATS)
def test_real_held_out_images_score_far_better_than_a_two_epoch_generator_and_are_not_flagged(
    trained, dataset, runs_dir, tmp_path, monkeypatch
):
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    cfg, classifier, _ = trained[dataset]
    write, channels = FORMATS[dataset]
    monkeypatch.setenv(BUDGET_ENV, "inf")  # score both of this short run's epochs
    run = create_run(
        tiny_config(
            f"{dataset}-run",
            dataset=dataset,
            data_dir=cfg.data_dir,
            limit=0,
            epochs=2,
            image_size=32,
            channels=channels,
            g_width=16,
            d_width=16,
            batch_size=64,
            score_samples=1000,
        )
    )
    assert train_run(run)["state"] == "finished"
    generated = run.read_quality()[-1]
    assert generated["classifier_accuracy"] == pytest.approx(classifier.accuracy, abs=1e-4) and generated["reliable"]
    # The run's reference: its training images at its size, as the trainer classified them.
    train = load_images(cfg, 32, channels, "train")
    real = RealReference.of(classify(classifier.model, train.images)[0])
    write(tmp_path, 1000, seed=99)  # real images the run never saw, read the same way
    held_out = load_images(DataConfig(dataset=dataset, data_dir=str(tmp_path)), 32, channels, "train")
    real_score = score_images(
        classifier.model,
        held_out.images,
        real,
        QualityConfig(samples=1000),
        classifier.feature_space,
        classifier.accuracy,
    )
    assert real_score.frechet * 5 < generated["frechet"]
    assert real_score.collapsed is False and real_score.reliable  # a verdict, and the right one
    assert real_score.coverage > generated["coverage"] and real_score.recall > generated["recall"]


def test_an_unreliable_classifier_gives_no_collapse_verdict_in_the_score_charts_and_terminal(tmp_path):
    from ui.charts import histogram_figure, quality_figure

    cfg = write_random_labels(tmp_path)
    ensure_classifier(cfg)
    classifier = classifier_for(cfg)
    assert classifier.accuracy < RELIABLE_ACCURACY  # chance: the labels are noise
    images = load_images(cfg, 32, 1, "train").images
    real = RealReference.of(classify(classifier.model, images)[0])
    score = score_images(
        classifier.model,
        images[:300],
        real,
        feature_space=classifier.feature_space,
        classifier_accuracy=classifier.accuracy,
    )
    assert score.collapsed is None and not score.reliable
    record = {"epoch": 1, "step": 9, **score.to_dict(), "seconds": 0.1}
    assert record["collapsed"] is None and record["reliable"] is False
    assert f"{classifier.accuracy:.1%}" in reliability_note(record) and "unreliable" in describe_score(record)
    assert "UNRELIABLE" in quality_figure([record]).layout.title.text
    assert "no collapse verdict" in histogram_figure(record).layout.title.text
    assert "#d62728" not in histogram_figure(record).data[0].marker.color  # no bar marked as a collapse


def test_a_classifier_cached_by_the_old_three_epoch_code_is_retrained_not_trusted(tmp_path):
    cfg = write_random_labels(tmp_path, count=300)
    path = classifier_path("mnist", tmp_path / "cache")
    with torch.random.fork_rng():
        from dcgan.quality.digit_classifier import DigitClassifier

        save_classifier(path, DigitClassifier(), dataset="mnist", test_accuracy=0.717, epochs=3, train_images=300)
        assert needs_training(cfg)  # what the old code wrote
        save_classifier(path, DigitClassifier(), dataset="mnist", test_accuracy=0.717, source=source_files(cfg))
    assert needs_training(cfg)  # even for these very files: not trained by this recipe
    standing_in = classifier_for(cfg)  # until retrained, another's features, with no accuracy claimed
    assert standing_in.accuracy is None and "no mnist classifier" in standing_in.feature_space
    ensure_classifier(cfg)
    meta = load_classifier(path)[1]
    assert meta["recipe"] == RECIPE and meta["test_accuracy"] != 0.717 and not needs_training(cfg)
    write_mnist_format(tmp_path, 400, seed=5)  # other files in its place: trained again
    assert needs_training(cfg)


def test_training_the_classifier_is_a_visible_step_before_the_runs_first_step(tmp_path, runs_dir):
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    cfg = write_random_labels(tmp_path)
    run = create_run(tiny_config("prepares", dataset="mnist", data_dir=cfg.data_dir, limit=0, channels=1))
    seen = []
    train_run(run, progress_fn=seen.append)
    preparing = [s for s in seen if s.get("preparing")]
    assert preparing and all(s["state"] == "starting" for s in preparing)
    assert (
        preparing[0]["message"] == "training the scoring classifier for MNIST — once per dataset, cached for later runs"
    )
    assert preparing[-2]["preparing"]["done"] > preparing[1]["preparing"]["done"] > 0  # it moves, with an ETA
    assert "validation accuracy" in preparing[-2]["preparing"]["detail"] and preparing[-2]["preparing"]["eta_s"] >= 0
    assert preparing[-1]["preparing"]["done"] == 1 and "test accuracy" in preparing[-1]["preparing"]["detail"]
    first_step = next(i for i, s in enumerate(seen) if s.get("state") == "running")
    assert first_step > seen.index(preparing[-1])  # before the run's first step, never inside it
    assert run.read_status()["preparing"] is None  # and the app's progress bar for it is gone
