"""Sample-quality scores in the shipped street-digits classifier's features."""
import json

import pytest
import torch

from conftest import ROOT, tiny_config
from dcgan.checkpoint import load_generator
from dcgan.config import DataConfig, ModelConfig
from dcgan.datasets import load_images
from dcgan.models import build_models
from dcgan.quality import (SHIPPED_CLASSIFIER, FeatureStats, QualityConfig, accuracy, classify, frechet_distance,
                           load_classifier, score_generator, score_images)


@pytest.fixture(scope="module")
def classifier():
    model, meta = load_classifier(SHIPPED_CLASSIFIER)
    return model, meta


@pytest.fixture(scope="module")
def street(data_dir):
    cfg = DataConfig(limit=2000)
    return load_images(cfg, 32, 3, "train"), load_images(cfg, 32, 3, "test")


@pytest.fixture(scope="module")
def real_stats(classifier, street):
    return FeatureStats.of(classify(classifier[0], street[0].images)[0])


def test_the_shipped_classifier_reads_street_digits(classifier, street):
    model, meta = classifier
    assert meta["test_accuracy"] >= 0.95  # measured on the whole 10,000-image test split when it was trained
    assert accuracy(model, street[1].images, street[1].labels) >= 0.95


def test_frechet_distance_of_a_set_with_itself_is_zero(classifier, street):
    stats = FeatureStats.of(classify(classifier[0], street[0].images)[0])
    scale = float(torch.trace(stats.cov))  # the distance's own scale: what round-off is relative to
    assert abs(frechet_distance(stats, stats)) < 1e-6 * scale


def test_held_out_real_images_score_far_better_than_noise_and_an_untrained_generator(classifier, street, real_stats):
    model = classifier[0]
    cfg = QualityConfig(samples=1000)
    held_out = score_images(model, street[1].images[:1000], real_stats, cfg)
    noise = score_images(model, torch.rand(1000, 3, 32, 32) * 2 - 1, real_stats, cfg)
    G, _ = build_models(ModelConfig())
    untrained = score_generator(G, model, real_stats, cfg)
    assert held_out.frechet * 5 < min(noise.frechet, untrained.frechet)
    assert held_out.confidence > 0.9 and not held_out.collapsed


def test_the_shipped_generator_scores_better_than_an_untrained_one(classifier, real_stats):
    model = classifier[0]
    shipped, _ = load_generator(ROOT / "checkpoints" / "street-digits-32px.pt")
    untrained, _ = build_models(ModelConfig())
    cfg = QualityConfig(samples=1000)
    good, bad = score_generator(shipped, model, real_stats, cfg), score_generator(untrained, model, real_stats, cfg)
    assert good.frechet < bad.frechet / 3 and good.inception_like > bad.inception_like


def test_a_generator_that_makes_one_digit_is_flagged_by_the_histogram(classifier, street, real_stats):
    images, labels = street[0].images, street[0].labels
    only_threes = score_images(classifier[0], images[labels == 3][:300], real_stats)
    every_digit = score_images(classifier[0], images[:300], real_stats)
    assert only_threes.collapsed and max(only_threes.histogram) > 0.9
    assert only_threes.histogram.index(max(only_threes.histogram)) == 3
    assert not every_digit.collapsed and only_threes.inception_like < every_digit.inception_like / 3


def test_the_trainer_scores_every_epoch_into_quality_jsonl(runs_dir):
    from dcgan.runs import create_run
    from dcgan.trainer import train_run

    run = create_run(tiny_config("scored", epochs=2))
    train_run(run)
    lines = [json.loads(line) for line in run.quality_path.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1.0, 2.0]
    assert all(r["feature_space"] == "street-digits classifier" and len(r["histogram"]) == 10 for r in lines)
    assert all(r["frechet"] > 0 and 0 < r["seconds"] for r in lines)
    run.discard_after(lines[0]["step"])  # what a resume from the first epoch's checkpoint does
    assert len(run.read_quality()) == 1


def test_the_score_can_also_come_every_n_steps(runs_dir):
    from dcgan.runs import create_run
    from dcgan.trainer import train_run

    run = create_run(tiny_config("often", epochs=1, score_every=3))  # 8 steps an epoch
    train_run(run)
    assert [r["step"] for r in run.read_quality()] == [3, 6, 8]


def test_a_labelled_datasets_classifier_is_trained_once_and_cached_with_its_accuracy(tmp_path):
    import numpy as np
    from scipy.io import savemat

    from dcgan.quality import classifier_for, ensure_classifier

    (tmp_path / "svhn").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 512), ("test", 128)):
        y = rng.integers(1, 11, (n, 1))  # SVHN stores the digit 0 as label 10
        x = np.zeros((32, 32, 3, n), np.uint8)
        for i, label in enumerate(y[:, 0] % 10):  # a learnable toy set: the label is the brightness
            x[..., i] = 20 + 23 * label + rng.integers(0, 5, (32, 32, 3))
        savemat(tmp_path / "svhn" / f"{split}_32x32.mat", {"X": x, "y": y})
    cfg = DataConfig(dataset="svhn", data_dir=str(tmp_path))
    path = ensure_classifier(cfg, epochs=2)
    model, meta, space = classifier_for("svhn", tmp_path / "cache")
    assert path.exists() and meta["dataset"] == "svhn" and 0 <= meta["test_accuracy"] <= 1
    assert space == "svhn classifier"
    stamp = path.stat().st_mtime_ns
    ensure_classifier(cfg)
    assert path.stat().st_mtime_ns == stamp  # trained once, then read from the cache
    _, _, fallback = classifier_for("cifar10", tmp_path / "cache")
    assert fallback.startswith("street-digits classifier (no cifar10 classifier")
