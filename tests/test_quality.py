"""Sample-quality scores in the shipped street-digits classifier's features, and when and how the trainer scores.

The classifiers trained for other datasets (MNIST's and SVHN's file formats) are in test_quality_classifiers.py.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, tiny_config

from dcgan.config import DataConfig, ModelConfig
from dcgan.data.batches import make_batches
from dcgan.data.loading import load_images
from dcgan.models import build_models
from dcgan.quality.digit_classifier import SHIPPED_CLASSIFIER, accuracy, classify, load_classifier
from dcgan.quality.score import (
    RELIABLE_ACCURACY,
    FeatureStats,
    QualityConfig,
    RealReference,
    describe_score,
    frechet_distance,
    manifold_scores,
    reliability_note,
    score_generator,
    score_images,
)
from dcgan.quality.tracker import (
    BUDGET_ENV,
    MIN_SAMPLES,
    SAMPLE_STEP,
    EpochScorer,
    ScoreCost,
    is_due,
    plan_scores,
    within_budget,
)
from dcgan.runs.generator_file import load_generator


@pytest.fixture(scope="module")
def classifier():
    model, meta = load_classifier(SHIPPED_CLASSIFIER)
    return model, meta


@pytest.fixture(scope="module")
def street(data_dir):
    cfg = DataConfig(limit=2000)
    return load_images(cfg, 32, 3, "train"), load_images(cfg, 32, 3, "test")


@pytest.fixture(scope="module")
def real(classifier, street):
    return RealReference.of(classify(classifier[0], street[0].images)[0])


@pytest.fixture(scope="module")
def shipped_accuracy(classifier):
    return classifier[1]["test_accuracy"]


def test_the_shipped_classifier_reads_street_digits_and_carries_its_accuracy(classifier, street):
    model, meta = classifier
    assert meta["test_accuracy"] >= 0.95  # measured on the whole 10,000-image test split when it was trained
    assert accuracy(model, street[1].images, street[1].labels) >= 0.95


def test_frechet_distance_of_a_set_with_itself_is_zero(classifier, street):
    stats = FeatureStats.of(classify(classifier[0], street[0].images)[0])
    scale = float(torch.trace(stats.cov))  # the distance's own scale: what round-off is relative to
    assert abs(frechet_distance(stats, stats)) < 1e-6 * scale


def test_held_out_real_images_score_far_better_than_noise_and_an_untrained_generator(
    classifier, street, real, shipped_accuracy
):
    model = classifier[0]
    cfg = QualityConfig(samples=1000)
    held_out = score_images(model, street[1].images[:1000], real, cfg, classifier_accuracy=shipped_accuracy)
    noise = score_images(model, torch.rand(1000, 3, 32, 32) * 2 - 1, real, cfg, classifier_accuracy=shipped_accuracy)
    G, _ = build_models(ModelConfig())
    untrained = score_generator(G, model, real, cfg, classifier_accuracy=shipped_accuracy)
    assert held_out.frechet * 5 < min(noise.frechet, untrained.frechet)
    assert held_out.confidence > 0.9 and held_out.collapsed is False and held_out.reliable
    assert min(held_out.precision, held_out.recall, held_out.coverage) > 0.8 and 0.8 < held_out.density < 1.2
    assert untrained.coverage < 0.1 < held_out.coverage


def test_the_shipped_generator_scores_better_than_an_untrained_one(classifier, real):
    model = classifier[0]
    shipped, _ = load_generator(ROOT / "checkpoints" / "street-digits-32px.pt")
    untrained, _ = build_models(ModelConfig())
    cfg = QualityConfig(samples=1000)
    good, bad = score_generator(shipped, model, real, cfg), score_generator(untrained, model, real, cfg)
    assert good.frechet < bad.frechet / 3 and good.inception_like > bad.inception_like
    assert good.recall > bad.recall + 0.5 and good.coverage > bad.coverage + 0.3


def test_a_generator_that_makes_one_digit_is_flagged_only_by_a_reliable_classifier(
    classifier, street, real, shipped_accuracy
):
    images, labels = street[0].images, street[0].labels
    only_threes = score_images(classifier[0], images[labels == 3][:300], real, classifier_accuracy=shipped_accuracy)
    every_digit = score_images(classifier[0], images[:300], real, classifier_accuracy=shipped_accuracy)
    assert only_threes.collapsed is True and max(only_threes.histogram) > 0.9
    assert only_threes.histogram.index(max(only_threes.histogram)) == 3
    assert every_digit.collapsed is False and only_threes.inception_like < every_digit.inception_like / 3
    for weak_accuracy in (0.148, 0.717, RELIABLE_ACCURACY - 0.01):  # the 3-epoch SVHN and MNIST classifiers
        weak = score_images(classifier[0], images[labels == 3][:300], real, classifier_accuracy=weak_accuracy)
        assert weak.collapsed is None and not weak.reliable  # no verdict from a classifier not shown to be good
    unknown = score_images(classifier[0], images[labels == 3][:300], real)
    assert unknown.collapsed is None and not unknown.reliable
    good = score_images(classifier[0], images[labels == 3][:300], real, classifier_accuracy=0.966)
    assert good.collapsed is True and good.reliable


def test_manifold_scores_of_the_same_distribution_are_high_and_of_a_far_one_zero():
    generator = torch.Generator().manual_seed(0)
    real, same = torch.randn(800, 16, generator=generator), torch.randn(800, 16, generator=generator)
    near = manifold_scores(real, same)
    assert min(near["precision"], near["recall"], near["coverage"]) > 0.8 and 0.8 < near["density"] < 1.2
    far = manifold_scores(real, same + 100)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_precision_and_coverage_tell_sharp_but_collapsed_from_blurry_but_varied(classifier, street, real):
    """The two failures one Fréchet number cannot tell apart."""
    images, labels = street[1].images, street[1].labels
    collapsed = score_images(classifier[0], images[labels == 3][:150], real)  # real images, one digit
    blurry = (
        F.interpolate(F.interpolate(images[:1000].float(), size=(12, 12), mode="area"), size=(32, 32), mode="bilinear")
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )
    blurred = score_images(classifier[0], blurry, real)
    assert collapsed.frechet > 300 and blurred.frechet > 300  # both bad by the Fréchet distance alone
    assert collapsed.precision > 0.9 and collapsed.coverage < 0.2 and collapsed.recall < 0.2
    assert blurred.recall > 3 * collapsed.recall and blurred.coverage > 2 * collapsed.coverage


def test_an_unreliable_score_says_why_and_what_to_do():
    line = {
        "epoch": 1,
        "frechet": 5.0,
        "confidence": 0.5,
        "histogram": [1.0] + [0.0] * 9,
        "collapsed": None,
        "feature_space": "svhn classifier",
        "classifier_accuracy": 0.148,
        "reliable": False,
    }
    assert "14.8%" in reliability_note(line) and "no collapse verdict" in reliability_note(line)
    assert "unreliable" in describe_score(line) and "collapsing" not in describe_score(line)
    standing_in = {
        **line,
        "feature_space": "street-digits classifier (no folder classifier: features of another)",
        "classifier_accuracy": None,
    }
    assert "not trained on these images" in reliability_note(standing_in)
    older = {k: v for k, v in line.items() if k not in ("classifier_accuracy", "reliable")}
    assert "does not record" in reliability_note(older)
    assert reliability_note({**line, "classifier_accuracy": 0.97, "reliable": True}) is None


# -- when the trainer scores, and how much -------------------------------------------------------------
def test_a_long_epoch_scores_every_epoch_with_as_many_samples_as_five_percent_affords():
    cost = ScoreCost(fixed_s=0.05, per_sample_s=0.002)
    plan = plan_scores(2000, epoch_seconds=50.0, cost=cost, budget=0.05)  # 2.5 s: 0.05 + 1,225 samples
    assert (plan.samples, plan.every) == (1000, 1) and plan.cost_s <= 0.05 * 50
    assert plan_scores(2000, 500.0, cost, 0.05).samples == 2000  # never more than asked


def test_a_short_epoch_scores_the_fewest_samples_every_few_epochs_ending_at_the_last():
    cost = ScoreCost(fixed_s=0.0, per_sample_s=0.002)
    plan = plan_scores(2000, epoch_seconds=2.0, cost=cost, budget=0.05)  # 0.1 s an epoch: 50 samples
    assert plan.samples == MIN_SAMPLES and plan.every == 5  # 250 samples cost 0.5 s = 5 epochs' allowance
    assert plan.cost_s <= 0.05 * 2.0 * plan.every
    assert [e for e in range(1, 11) if is_due(e, 10, plan.every)] == [5, 10]
    assert plan_scores(200, 2.0, cost, 0.05).samples == 200  # asked for fewer than the minimum: as asked
    assert plan_scores(2000, 2.0, cost, 0.05, samples=1000).samples == 1000  # a run keeps its count
    assert plan_scores(2000, 2.0, cost, math.inf).every == 1


def test_a_score_is_made_only_while_the_scoring_stays_within_its_share_of_training():
    assert within_budget(spent_s=1.0, cost_s=1.5, trained_s=50.0, budget=0.05)
    assert not within_budget(spent_s=1.0, cost_s=1.6, trained_s=50.0, budget=0.05)
    assert MIN_SAMPLES % SAMPLE_STEP == 0


def test_the_trainer_scores_every_epoch_into_quality_jsonl_with_its_classifiers_accuracy(runs_dir, monkeypatch):
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    monkeypatch.setenv(BUDGET_ENV, "inf")  # a tiny run's epoch is shorter than any score: score it anyway
    run = create_run(tiny_config("scored", epochs=2))
    final = train_run(run)
    lines = [json.loads(line) for line in run.quality_path.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1.0, 2.0]
    assert all(r["feature_space"] == "street-digits classifier" and len(r["histogram"]) == 10 for r in lines)
    assert all(r["frechet"] > 0 and 0 < r["seconds"] and r["samples"] == 200 for r in lines)
    shipped = load_classifier(SHIPPED_CLASSIFIER)[1]["test_accuracy"]
    assert all(r["classifier_accuracy"] == pytest.approx(shipped, abs=1e-4) for r in lines)
    assert all(r["reliable"] is True and isinstance(r["collapsed"], bool) for r in lines)
    # The last line is the score of the generator the run exported, drawn again from the same fixed z.
    cfg = run.read_run_config()
    batches = make_batches(cfg.data, cfg.model, cfg.train.batch_size, torch.device("cpu"), cfg.train.seed)
    scorer = EpochScorer.create(run, cfg, batches, torch.device("cpu"))
    G, _ = load_generator(run.generator_path)
    again = score_generator(G, scorer.classifier.model, scorer.real, QualityConfig(samples=200), "", shipped)
    expected = again.to_dict()
    assert lines[-1]["step"] == 16 and {k: lines[-1][k] for k in ("precision", "recall", "density", "coverage")} == {
        k: pytest.approx(expected[k], abs=1e-4) for k in ("precision", "recall", "density", "coverage")
    }
    assert lines[-1]["frechet"] == pytest.approx(expected["frechet"], rel=1e-4)
    assert lines[-1]["histogram"] == pytest.approx(expected["histogram"], abs=1e-4)
    assert final["scoring_s"] >= sum(r["seconds"] for r in lines)  # what the score cost, beside training's time
    assert final["quality"]["step"] == lines[-1]["step"]
    assert len(run.read_quality()) == 2  # every field of the kind a reader checks (run_records.py)
    run.discard_after(lines[0]["step"])  # what a resume from the first epoch's checkpoint does
    assert len(run.read_quality()) == 1


def test_the_score_can_also_come_every_n_steps(runs_dir, monkeypatch):
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    monkeypatch.setenv(BUDGET_ENV, "inf")
    run = create_run(tiny_config("often", epochs=1, score_every=3))  # 8 steps an epoch
    train_run(run)
    assert [r["step"] for r in run.read_quality()] == [3, 6, 8]


def test_epochs_too_short_to_afford_a_score_are_not_scored_and_the_status_says_the_plan(runs_dir, monkeypatch):
    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    monkeypatch.setenv(BUDGET_ENV, "1e-9")  # no score can fit: every epoch end is skipped
    run = create_run(tiny_config("short", epochs=2))
    final = train_run(run)
    assert final["state"] == "finished" and run.read_quality() == []
    plan = final["score_plan"]
    assert plan["samples"] == 200 and plan["every_epochs"] > 2 and plan["budget"] == 1e-9
    assert final["scoring_s"] > 0  # the timing probe, counted against the score


def test_quality_lines_with_new_fields_of_the_wrong_kind_are_skipped_and_older_lines_read(tmp_path):
    from dcgan.runs.directory import RunDirectory

    run = RunDirectory(tmp_path)
    older = {
        "epoch": 1,
        "step": 8,
        "frechet": 9.0,
        "confidence": 0.9,
        "histogram": [0.1] * 10,
        "feature_space": "street-digits classifier",
        "collapsed": False,
    }
    newer = {
        **older,
        "step": 16,
        "classifier_accuracy": 0.97,
        "reliable": True,
        "precision": 0.8,
        "recall": 0.7,
        "density": 0.9,
        "coverage": 0.6,
        "samples": 1000,
        "seconds": 1.2,
        "collapsed": None,
    }
    damaged = {**newer, "step": 24, "reliable": "yes"}
    run.quality_path.write_text("".join(json.dumps(r) + "\n" for r in (older, newer, damaged)))
    assert [r["step"] for r in run.read_quality()] == [8, 16]
