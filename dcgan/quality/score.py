"""Sample quality without Inception: scores in the features of a classifier trained on the dataset itself.

FID needs Inception weights this project cannot download; for digit datasets the field scores samples in
the features of a small classifier of the same data instead (the penultimate layer, 128 numbers):
  - Fréchet distance between the Gaussian fits of real and generated features (the FID formula);
  - precision and recall (Kynkäänniemi et al., 2019) and density and coverage (Naeem et al., 2020), from
    k-nearest-neighbour balls around real and generated features: one Fréchet number cannot tell 'blurry
    but varied' (low precision, high recall) from 'sharp but collapsed' (high precision, low coverage);
  - the classifier's mean confidence, an Inception-Score-like exp(E[KL(p(y|x) || p(y))]), and the
    histogram of predicted classes, which shows mode collapse (one digit made over and over).
A score is only as good as its classifier: each carries the classifier's accuracy on held-out real
images, and below RELIABLE_ACCURACY it is marked unreliable and gives no collapse verdict.
The classifier network and its files: digit_classifier.py; which one a dataset uses, trained and cached:
scoring_classifier.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from dcgan.models import Generator, seeded_z
from dcgan.quality.digit_classifier import DigitClassifier, classify

# A classifier that misreads more than one held-out real image in ten cannot tell a generator's wrong or
# muddled digits from its own mistakes: its class histogram is off by up to that much per class and its
# features mix classes. The 3-epoch classifiers the issue found misleading read 15% and 72%; trained until
# good, the same sets reach 89% and 97%. Below this, scores are shown as unreliable and nothing is called
# collapsed.
RELIABLE_ACCURACY = 0.90
NEAREST_K = 5  # k of the k-NN balls: Naeem et al.'s choice for density and coverage, used for all four
MAX_MANIFOLD_POINTS = 2000  # real and generated features each: three 2,000 x 2,000 distance matrices, ~0.1 s on a CPU


@dataclass
class QualityConfig:
    samples: int = 2000  # generated images scored (the most; quality/tracker.py may score fewer)
    real_samples: int = 10000  # training images whose features make the reference statistics
    batch: int = 500
    collapse_share: float = 0.5  # one class making more than this share of samples: mode collapse
    seed: int = 1234  # the scored z (fixed per run, so epochs are compared on the same z)


# -- the real images' side ----------------------------------------------------------------------------
@dataclass
class FeatureStats:
    mean: torch.Tensor  # (128,) float64
    cov: torch.Tensor  # (128, 128) float64

    @classmethod
    def of(cls, features: torch.Tensor) -> FeatureStats:
        f = features.double()
        return cls(f.mean(0), torch.cov(f.T))


@dataclass
class RealReference:
    """What generated images are compared with: the Gaussian fit of real features (Fréchet distance) and up
    to MAX_MANIFOLD_POINTS of the features themselves, spread over the set (precision, recall, ...)."""

    stats: FeatureStats
    points: torch.Tensor  # (M, 128) float32
    images: int  # how many real images made the statistics

    @classmethod
    def of(cls, features: torch.Tensor) -> RealReference:
        return cls(
            FeatureStats.of(features),
            features[spread(len(features), MAX_MANIFOLD_POINTS)].float().clone(),
            len(features),
        )


def spread(count: int, n: int) -> torch.Tensor:
    """min(n, count) indices spread evenly over range(count)."""
    return torch.linspace(0, count - 1, min(n, count)).long()


# -- the scores ---------------------------------------------------------------------------------------
def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2), with tr((S_a S_b)^1/2) computed as the sum of the
    square roots of the eigenvalues of S_a^1/2 S_b S_a^1/2 (symmetric, so no complex matrix square root)."""
    values, vectors = torch.linalg.eigh(a.cov)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root_a @ b.cov @ root_a).clamp_min(0).sqrt().sum()
    return float((a.mean - b.mean).square().sum() + torch.trace(a.cov) + torch.trace(b.cov) - 2 * middle)


def _kth_neighbour_distance(points: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest other point (the radius of its k-NN ball)."""
    return torch.cdist(points, points).kthvalue(k + 1, dim=1).values  # +1: a point is its own nearest, at 0


def manifold_scores(real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_K) -> dict[str, float]:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) of `fake`
    against `real` features, each set's manifold estimated as the union of its points' k-NN balls:
      precision: share of fakes inside the real manifold (are samples realistic?);
      recall:    share of reals inside the fake manifold (is the data's variety made?);
      density:   real balls a fake falls in, per fake, over k (about 1 when fakes are distributed like reals;
                 unlike precision it is not fooled by a few outlying reals with huge balls);
      coverage:  share of reals whose ball holds at least one fake (collapse leaves most reals uncovered)."""
    real, fake = real.float(), fake.float()
    k = min(k, len(real) - 1, len(fake) - 1)
    if k < 1:
        return {"precision": math.nan, "recall": math.nan, "density": math.nan, "coverage": math.nan}
    real_radius, fake_radius = _kth_neighbour_distance(real, k), _kth_neighbour_distance(fake, k)
    distance = torch.cdist(real, fake)  # (reals, fakes)
    in_real_ball = distance <= real_radius.unsqueeze(1)
    return {
        "precision": in_real_ball.any(0).float().mean().item(),
        "recall": (distance <= fake_radius.unsqueeze(0)).any(1).float().mean().item(),
        "density": in_real_ball.sum(0).float().mean().item() / k,
        "coverage": (distance.min(1).values <= real_radius).float().mean().item(),
    }


def is_reliable(classifier_accuracy: float | None) -> bool:
    """A classifier of this very dataset, tested on its held-out real images, reading at least RELIABLE_ACCURACY
    of them right. None = unknown (another dataset's classifier, or a score written before accuracy was kept)."""
    return classifier_accuracy is not None and classifier_accuracy >= RELIABLE_ACCURACY


@dataclass
class QualityScore:
    frechet: float  # lower is better; 0 = the same feature statistics as the real images
    confidence: float  # mean top-class probability: high when samples read as some digit
    inception_like: float  # exp(E KL(p(y|x) || p(y))): high when confident AND varied (max = classes)
    histogram: list[float] = field(default_factory=list)  # share of samples per predicted class
    collapsed: bool | None = None  # one class makes most samples; None = no verdict (unreliable classifier)
    feature_space: str = ""  # which classifier's features
    classifier_accuracy: float | None = None  # its test accuracy on this dataset's held-out images; None = unknown
    precision: float = math.nan
    recall: float = math.nan
    density: float = math.nan
    coverage: float = math.nan
    samples: int = 0  # generated (or real) images scored

    @property
    def reliable(self) -> bool:
        return is_reliable(self.classifier_accuracy)

    def to_dict(self) -> dict:
        """What quality.jsonl holds (runs/records.QUALITY_FIELDS says what a reader checks)."""
        number = lambda v: None if v is None or math.isnan(v) else round(v, 4)
        return {
            "frechet": round(self.frechet, 4),
            "confidence": round(self.confidence, 4),
            "inception_like": round(self.inception_like, 4),
            "histogram": [round(h, 4) for h in self.histogram],
            "collapsed": self.collapsed,
            "feature_space": self.feature_space,
            "classifier_accuracy": number(self.classifier_accuracy),
            "reliable": self.reliable,
            **{k: number(getattr(self, k)) for k in ("precision", "recall", "density", "coverage")},
            "samples": self.samples,
        }


def score_features(
    features: torch.Tensor,
    probs: torch.Tensor,
    real: RealReference,
    cfg: QualityConfig | None = None,
    feature_space: str = "",
    classifier_accuracy: float | None = None,
) -> QualityScore:
    cfg = cfg or QualityConfig()
    marginal = probs.mean(0)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    histogram = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float() / len(probs)
    # The collapse verdict reads the class histogram, which is only as right as the classifier.
    collapsed = bool(histogram.max() > cfg.collapse_share) if is_reliable(classifier_accuracy) else None
    manifold = manifold_scores(real.points, features[spread(len(features), MAX_MANIFOLD_POINTS)])
    return QualityScore(
        frechet_distance(FeatureStats.of(features), real.stats),
        probs.max(1).values.mean().item(),
        math.exp(kl.item()),
        histogram.tolist(),
        collapsed,
        feature_space,
        classifier_accuracy,
        samples=len(features),
        **manifold,
    )


def score_images(
    model: DigitClassifier,
    images: torch.Tensor,
    real: RealReference,
    cfg: QualityConfig | None = None,
    feature_space: str = "",
    classifier_accuracy: float | None = None,
) -> QualityScore:
    cfg = cfg or QualityConfig()
    features, probs = classify(model, images, cfg.batch)
    return score_features(features, probs, real, cfg, feature_space, classifier_accuracy)


@torch.no_grad()
def generate(G: Generator, count: int, cfg: QualityConfig | None = None) -> torch.Tensor:
    """`count` images of G (eval mode) from the run's fixed scoring z: the same first z at any count."""
    cfg = cfg or QualityConfig()
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    z = seeded_z(cfg.seed, count, G.cfg.z_dim)
    images = torch.cat([G(chunk.to(device)).float() for chunk in z.split(cfg.batch)])
    G.train(was_training)
    return images


def score_generator(
    G: Generator,
    model: DigitClassifier,
    real: RealReference,
    cfg: QualityConfig | None = None,
    feature_space: str = "",
    classifier_accuracy: float | None = None,
) -> QualityScore:
    """Score cfg.samples images of G drawn from a fixed z."""
    cfg = cfg or QualityConfig()
    return score_images(model, generate(G, cfg.samples, cfg), real, cfg, feature_space, classifier_accuracy)


def reliability_note(record: dict) -> str | None:
    """Why a quality.jsonl line's score cannot be trusted, in words that say what to do; None when it can."""
    accuracy, space = record.get("classifier_accuracy"), record.get("feature_space") or "classifier"
    if record.get("reliable") is True:
        return None
    if "(no " in space:  # scored in another dataset's classifier (classifier_for's name says so)
        return (
            f"unreliable: scored in the features of the {space.split(' (')[0]}, which was not trained on these "
            "images; no collapse verdict. The Fréchet distance still shows the trend from epoch to epoch"
        )
    if not isinstance(accuracy, (int, float)):
        return (
            "unreliable: this score does not record its classifier's accuracy (an older version wrote it); "
            "no collapse verdict"
        )
    return (
        f"unreliable: the {space} reads only {accuracy:.1%} of held-out real images right (below "
        f"{RELIABLE_ACCURACY:.0%}); no collapse verdict. More labelled training images make a better one "
        "(scripts/train_classifier.py --retrain)"
    )


def describe_classifier(record: dict) -> str:
    """'mnist classifier, test accuracy 97.1%' (or without the accuracy when it is not known)."""
    accuracy = record.get("classifier_accuracy")
    known = isinstance(accuracy, (int, float)) and "(no " not in (record.get("feature_space") or "")
    return f"{record.get('feature_space')}" + (f", test accuracy {accuracy:.1%}" if known else "")


def describe_score(record: dict) -> str:
    """One line for a terminal: the score at an epoch, its classifier's accuracy, and what it cannot say."""
    manifold = " · ".join(
        f"{k} {record[k]:.2f}"
        for k in ("precision", "recall", "density", "coverage")
        if isinstance(record.get(k), (int, float))
    )
    line = (
        f"quality at epoch {record['epoch']:g}: Fréchet distance {record['frechet']:.1f}"
        + (f" · {manifold}" if manifold else "")
        + (f" · {record['samples']:,} samples in {record.get('seconds', 0):.1f} s" if record.get("samples") else "")
        + f" · {describe_classifier(record)}"
    )
    note = reliability_note(record)
    if note:
        return f"{line}\n  {note}"
    if record.get("collapsed") is True:
        top = max(range(len(record["histogram"])), key=record["histogram"].__getitem__)
        share = record["histogram"][top]
        return f"{line}\n  class {top} makes {share:.0%} of the samples: the generator may be collapsing onto it"
    return line
