"""The trainer's sample-quality score: prepared in plain sight before training, then scored at epoch ends
within a share of the training time, into the run folder's quality.jsonl.

Preparing (once per dataset, cached): training the dataset's classifier (minutes on a CPU, with its own
progress in status.json and the terminal) and the real images' reference features (seconds).
On a CPU a scored sample costs about what a trained image does, so on a short epoch a 2,000-sample score
would cost more than the epoch. The rule (plan_scores): at most SCORE_BUDGET of the training time so far
goes to scoring. The sample count, fixed for the run at its first decision so epochs compare on the same
z, is what one score per epoch can afford (at least MIN_SAMPLES, at most the run's score_samples); when
even that costs more, scores come every few epochs, counted back from the last so the final epoch is the
one scored. `score_every` scores are made as asked, whatever they cost. Every second of it is counted in
status.json's scoring_s, and none of it in the training's images/s.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.config import RunConfig
from dcgan.data.batches import StreamingBatches
from dcgan.data.loading import data_dir
from dcgan.data.registry import dataset_info
from dcgan.errors import CheckpointError
from dcgan.fileio import atomic_save_torch
from dcgan.quality.digit_classifier import FEATURES, classify, load_classifier
from dcgan.quality.score import FeatureStats, QualityConfig, RealReference, generate, score_features, score_images
from dcgan.quality.scoring_classifier import ScoringClassifier, classifier_for, ensure_classifier, needs_training
from dcgan.runs.checkpoint import REFERENCE_FORMAT, is_a, load_tagged
from dcgan.runs.directory import RunDirectory

SCORE_BUDGET = 0.05  # the bound: the score may cost at most 5% of training time
BUDGET_ENV = "DCGAN_SCORE_BUDGET"  # another share ("inf": every epoch, whatever it costs; tests of tiny runs)
MIN_SAMPLES = 250  # fewer, and the Fréchet distance's bias (it grows as 1/samples) hides an epoch's change
SAMPLE_STEP = 250  # counts are rounded down to a multiple of this, so runs compare at a few counts
PROBE_SAMPLES = 16  # generated once at the start to time the generator (few: at 64 px they cost 0.1 s)
PROBE_REAL = 128  # real images classified and scored then, to time the classifier and the fixed part


def score_budget() -> float:
    value = os.environ.get(BUDGET_ENV)
    return float(value) if value else SCORE_BUDGET


@dataclass
class ScoreCost:
    """Seconds a score of n samples takes: fixed_s (the Fréchet distance's eigendecompositions, ...) + n * per_sample_s
    (generating and classifying one). Measured by a probe at the start, then by each score."""

    fixed_s: float
    per_sample_s: float

    def of(self, samples: int) -> float:
        return self.fixed_s + samples * self.per_sample_s


@dataclass
class ScorePlan:
    samples: int  # generated images per score, the same for the whole run
    every: int  # epochs between scores, counted back from the last epoch
    cost_s: float  # what one score of that many samples is expected to take


def plan_scores(
    requested: int, epoch_seconds: float, cost: ScoreCost, budget: float, samples: int | None = None
) -> ScorePlan:
    """The sample count one score per epoch can afford within `budget` of an epoch's training time (rounded
    down to SAMPLE_STEP, between MIN_SAMPLES and `requested`) unless the run's count is already fixed
    (`samples`), and how many epochs apart scores of that count must be to stay within the budget."""
    allowance = budget * max(epoch_seconds, 1e-9)
    if samples is None:
        if math.isinf(allowance):
            affordable = requested
        else:
            affordable = int((allowance - cost.fixed_s) / cost.per_sample_s) // SAMPLE_STEP * SAMPLE_STEP
        samples = requested if requested <= MIN_SAMPLES else max(MIN_SAMPLES, min(requested, affordable))
    every = 1 if math.isinf(allowance) else max(1, math.ceil(cost.of(samples) / allowance))
    return ScorePlan(samples, every, cost.of(samples))


def is_due(epoch: int, last_epoch: int, every: int) -> bool:
    """Epochs `every` apart, ending at the last one."""
    return (last_epoch - epoch) % every == 0


def within_budget(spent_s: float, cost_s: float, trained_s: float, budget: float) -> bool:
    return spent_s + cost_s <= budget * trained_s


class EpochScorer:
    """Holds the classifier, the real images' reference and the plan; called at each epoch's end."""

    def __init__(
        self,
        run: RunDirectory,
        classifier: ScoringClassifier,
        reference: Callable[[], tuple[RealReference, torch.Tensor]],
        requested: int,
        last_epoch: int,
        progress_fn=None,
    ):
        self.run, self.classifier = run, classifier
        self.requested, self.last_epoch, self.budget = requested, last_epoch, score_budget()
        self.progress_fn = progress_fn
        # The real images' reference is made at the first score, not before training: the first loss point
        # comes seconds after Start, and street-digits may still be drawing its later images then.
        self._reference = reference
        self._real: RealReference | None = None
        self._probe_images: torch.Tensor | None = None
        self.cost: ScoreCost | None = None  # measured by the probe at the first decision
        self.spent_s = 0.0  # scoring seconds of this run so far, the timing probe included
        self.fixed_samples = None
        earlier = run.read_quality()  # a resumed run: its scores so far (those after its checkpoint are gone)
        if earlier:
            self.spent_s = sum(r["seconds"] for r in earlier if isinstance(r.get("seconds"), (int, float)))
            samples = earlier[-1].get("samples")
            self.fixed_samples = samples if isinstance(samples, int) and samples > 0 else requested

    def _prepared(self) -> tuple[RealReference, torch.Tensor]:
        if self._real is None or self._probe_images is None:
            real, images = self._reference()  # says what it does in status.json's message while it works
            self._real, self._probe_images = real, images[:PROBE_REAL].clone()  # real images the probe classifies
            self.run.write_status(message=None)
            return real, self._probe_images
        return self._real, self._probe_images

    @property
    def real(self) -> RealReference:
        return self._prepared()[0]

    @property
    def probe_images(self) -> torch.Tensor:
        return self._prepared()[1]

    @classmethod
    def create(
        cls, run: RunDirectory, config: RunConfig, batches, device: torch.device, progress_fn=None
    ) -> EpochScorer | None:
        """Prepare the score: the dataset's classifier (trained now if need be, showing its progress) and the real
        images' reference features. None when scoring is off or no classifier exists."""
        requested = config.train.score_samples
        if not requested:
            return None
        if needs_training(config.data):
            _train_classifier_visibly(run, config, device, progress_fn)
        classifier = classifier_for(config.data)
        if classifier is None:
            return None
        classifier.model = classifier.model.to(device)
        cache = data_dir(config.data) / "cache"
        reference = lambda: _reference(run, classifier, batches, cache)
        return cls(run, classifier, reference, requested, config.train.epochs, progress_fn)

    def _probe(self, G) -> ScoreCost:
        """Time the parts of a score before the first one: generating (a few samples), classifying (a batch of
        real images: per image the classifier runs several times slower in a batch of a few) and the fixed
        part (scoring those). Done at the first decision, after training has paid the process's one-off
        set-up costs (1.8 s at 64 px on a CPU); a tiny score still goes first, untimed, for this code's own."""
        real_images = self.probe_images
        start = time.perf_counter()
        self._measure(G, 2)
        timed = time.perf_counter()
        generate(G, PROBE_SAMPLES)
        generated = time.perf_counter()
        features, probs = classify(self.classifier.model, real_images)
        classified = time.perf_counter()
        score_features(features, probs, self.real)
        end = time.perf_counter()
        self.spent_s += end - start
        return ScoreCost(
            end - classified, (generated - timed) / PROBE_SAMPLES + (classified - generated) / max(len(real_images), 1)
        )

    # -- when and how much ------------------------------------------------------------------------------
    def at_epoch_end(self, G, step: int, epoch: int, trained_s: float) -> dict | None:
        """Score if the plan has this epoch scored and the budget allows; the quality.jsonl line, or None."""
        plan = self._plan(G, trained_s / max(epoch, 1))
        if not (
            is_due(epoch, self.last_epoch, plan.every)
            and within_budget(self.spent_s, plan.cost_s, trained_s, self.budget)
        ):
            self.run.write_status(**self._status_fields(plan, trained_s))
            return None
        return self.score(G, step, epoch, trained_s)

    def score(self, G, step: int, epoch: float, trained_s: float) -> dict:
        """Score now (an epoch end the plan allows, or a `score_every` step), and write the line."""
        plan = self._plan(G, trained_s / epoch)
        start = time.perf_counter()
        score = self._measure(G, plan.samples)
        seconds = time.perf_counter() - start
        self.spent_s += seconds
        # The per-sample cost as measured at the run's own count; the probed fixed part is taken as at most half.
        fixed_s = self._measured_cost(G).fixed_s
        self.cost = ScoreCost(fixed_s, max(seconds - fixed_s, seconds / 2) / plan.samples)
        record = {"epoch": round(epoch, 4), "step": step, **score.to_dict(), "seconds": round(seconds, 3)}
        self.run.append_quality(record)
        status = self.run.write_status(quality=record, **self._status_fields(plan, trained_s))
        if self.progress_fn:
            self.progress_fn(status)
        return record

    def _plan(self, G, epoch_seconds: float) -> ScorePlan:
        """The plan: its sample count is fixed at the run's first decision (when the first epoch's length is
        known) so all its scores compare; its cadence follows the measured cost."""
        plan = plan_scores(self.requested, epoch_seconds, self._measured_cost(G), self.budget, self.fixed_samples)
        self.fixed_samples = plan.samples
        return plan

    def _measured_cost(self, G) -> ScoreCost:
        """What a score costs: probed at the run's first decision, then as each score measured it."""
        if self.cost is None:
            self.cost = self._probe(G)
        return self.cost

    def _measure(self, G, samples: int):
        cfg = QualityConfig(samples=samples)
        images = generate(G, samples, cfg)
        return score_images(
            self.classifier.model, images, self.real, cfg, self.classifier.feature_space, self.classifier.accuracy
        )

    def _status_fields(self, plan: ScorePlan, trained_s: float) -> dict:
        """status.json's word on the score's cost: what it spent, against how much training, and its plan."""
        return {
            "scoring_s": round(self.spent_s, 3),
            "score_plan": {
                "samples": plan.samples,
                "every_epochs": plan.every,
                "cost_s": round(plan.cost_s, 3),
                "budget": self.budget,
                "spent_s": round(self.spent_s, 3),
                "trained_s": round(trained_s, 3),
                "last_epoch": self.last_epoch,
            },
        }


def describe_plan(plan: dict) -> str:
    """A status.json score_plan in words, e.g. for a run not scored yet."""
    cadence = "every epoch" if plan["every_epochs"] == 1 else f"every {plan['every_epochs']} epochs, ending at the last"
    return (
        f"{plan['samples']:,} samples per score ({plan['cost_s']:.1f} s), {cadence}: the score may take "
        f"{plan['budget']:.0%} of training time ({plan['spent_s']:.1f} s of {plan['trained_s']:.0f} s so far)"
    )


def _train_classifier_visibly(run: RunDirectory, config: RunConfig, device, progress_fn) -> None:
    """Train the dataset's classifier with its progress in status.json (the app's run view) and in the terminal."""
    title = dataset_info(config.data.dataset).title
    message = f"training the scoring classifier for {title} — once per dataset, cached for later runs"

    def report(task: dict) -> None:
        status = run.write_status(state="starting", message=message, preparing={"task": "scoring classifier", **task})
        if progress_fn:
            progress_fn(status)

    report({"done": 0.0, "detail": "loading its images", "eta_s": None})
    path = ensure_classifier(
        config.data,
        lambda p: report({"done": p.epoch / p.max_epochs, "detail": p.describe(), "eta_s": round(p.eta_s, 1)}),
        device,
    )
    meta = load_classifier(path)[1]
    report(
        {
            "done": 1.0,
            "eta_s": 0.0,
            "detail": f"test accuracy {meta['test_accuracy']:.1%} on {meta['test_images']:,} held-out images after "
            f"{meta['epochs']} epochs ({meta['seconds']:.0f} s); cached for later runs",
        }
    )
    run.write_status(message="scoring classifier ready", preparing=None)


def _reference(
    run: RunDirectory, classifier: ScoringClassifier, batches, cache_dir
) -> tuple[RealReference, torch.Tensor]:
    """(The real images' features for the score, the images). The features are cached by the images themselves
    and the classifier: a run on the same data at the same size reads them instead of classifying 10,000
    images again."""
    cfg = QualityConfig()
    if isinstance(batches, StreamingBatches):  # the reference images are decoded from disk
        run.write_status(message=f"reading {min(cfg.real_samples, batches.count):,} images for the quality score")
    images = batches.spread_sample(cfg.real_samples)
    digest = hashlib.sha256(images.cpu().contiguous().numpy().tobytes()).hexdigest()[:16]
    path = cache_dir / f"reference-{classifier.identity}-{digest}.pt"
    cached = _read_reference(path)
    if cached is not None:
        return cached, images
    run.write_status(
        message=f"classifying {len(images):,} real images for the quality score (once per dataset and "
        "image size, then cached)"
    )
    real = RealReference.of(classify(classifier.model, images, cfg.batch)[0])
    try:
        atomic_save_torch(
            path,
            {
                "format": REFERENCE_FORMAT,
                "mean": real.stats.mean,
                "cov": real.stats.cov,
                "points": real.points,
                "images": real.images,
            },
        )
    except OSError:
        pass  # a read-only data folder: computed again next time
    return real, images


def _read_reference(path: Path) -> RealReference | None:
    """The cached reference features, read as every file of ours is (checkpoint.load_tagged) and checked field by
    field; None when absent, damaged or written before caches carried their format (then computed again)."""
    try:
        cached = load_tagged(path, REFERENCE_FORMAT, str(path))
    except CheckpointError:
        return None
    mean, cov, points = (cached.get(k) for k in ("mean", "cov", "points"))
    if not (
        isinstance(mean, torch.Tensor)
        and isinstance(cov, torch.Tensor)
        and isinstance(points, torch.Tensor)
        and is_a(cached.get("images"), int)
    ):
        return None
    if mean.shape != (FEATURES,) or cov.shape != (FEATURES, FEATURES) or points.shape[1:] != (FEATURES,):
        return None
    return RealReference(FeatureStats(mean, cov), points, cached["images"])
