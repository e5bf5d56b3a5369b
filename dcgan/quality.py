"""Sample quality without Inception: scores in the features of a classifier trained on the dataset itself.

FID needs Inception weights this project cannot download; for digit datasets the field scores samples in
the features of a small classifier of the same data instead (the penultimate layer, 128 numbers):
  - Fréchet distance between the Gaussian fits of real and generated features (the FID formula);
  - the classifier's mean confidence, an Inception-Score-like exp(E[KL(p(y|x) || p(y))]), and the
    histogram of predicted classes, which shows mode collapse (one digit made over and over).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 32          # every image is scored at 32 px RGB (grayscale repeated, other sizes resized)
FEATURES = 128
SHIPPED_CLASSIFIER = Path(__file__).resolve().parent / "assets" / "classifier-street-digits.pt"
CLASSIFIER_FORMAT = "dcgan-studio/classifier-v1"


@dataclass
class QualityConfig:
    samples: int = 2000          # generated images scored per epoch
    real_samples: int = 10000    # training images whose features make the reference statistics
    batch: int = 500
    collapse_share: float = 0.5  # one class making more than this share of samples: mode collapse
    seed: int = 1234             # the scored z (fixed per run, so epochs are compared on the same z)


class DigitClassifier(nn.Module):
    """Three conv blocks (32 -> 16 -> 8 -> 4 px), a 128-feature layer, 10 classes."""

    def __init__(self, classes: int = 10):
        super().__init__()
        blocks, c_in = [], 3
        for c_out in (32, 64, 128):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 4, FEATURES), nn.ReLU(inplace=True))
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, 32, 32) in [-1, 1] -> (features (B, 128), logits (B, classes))."""
        f = self.features(self.blocks(x))
        return f, self.head(f)


def to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] images of any size and 1 or 3 channels -> (B, 3, 32, 32) in [-1, 1]."""
    x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x.contiguous()


@torch.no_grad()
def classify(model: DigitClassifier, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128), class probabilities (N, 10)), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    feats, probs = [], []
    for chunk in images.split(batch):
        f, logits = model(to_classifier_input(chunk.to(device)))
        feats.append(f.float().cpu())
        probs.append(logits.float().softmax(-1).cpu())
    return torch.cat(feats), torch.cat(probs)


# -- the scores ---------------------------------------------------------------------------------------
@dataclass
class FeatureStats:
    mean: torch.Tensor   # (128,) float64
    cov: torch.Tensor    # (128, 128) float64

    @classmethod
    def of(cls, features: torch.Tensor) -> "FeatureStats":
        f = features.double()
        return cls(f.mean(0), torch.cov(f.T))


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2), with tr((S_a S_b)^1/2) computed as the sum of the
    square roots of the eigenvalues of S_a^1/2 S_b S_a^1/2 (symmetric, so no complex matrix square root)."""
    values, vectors = torch.linalg.eigh(a.cov)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root_a @ b.cov @ root_a).clamp_min(0).sqrt().sum()
    return float((a.mean - b.mean).square().sum() + torch.trace(a.cov) + torch.trace(b.cov) - 2 * middle)


@dataclass
class QualityScore:
    frechet: float                  # lower is better; 0 = the same feature statistics as the real images
    confidence: float               # mean top-class probability: high when samples read as some digit
    inception_like: float           # exp(E KL(p(y|x) || p(y))): high when confident AND varied (max = classes)
    histogram: list[float] = field(default_factory=list)  # share of samples per predicted class
    collapsed: bool = False         # one class makes more than QualityConfig.collapse_share of samples
    feature_space: str = ""         # which classifier's features

    def to_dict(self) -> dict:
        return {"frechet": round(self.frechet, 4), "confidence": round(self.confidence, 4),
                "inception_like": round(self.inception_like, 4), "histogram": [round(h, 4) for h in self.histogram],
                "collapsed": self.collapsed, "feature_space": self.feature_space}


def score_features(features: torch.Tensor, probs: torch.Tensor, real: FeatureStats, cfg: QualityConfig = QualityConfig(),
                   feature_space: str = "") -> QualityScore:
    marginal = probs.mean(0)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    histogram = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float() / len(probs)
    return QualityScore(frechet_distance(FeatureStats.of(features), real), probs.max(1).values.mean().item(),
                        math.exp(kl.item()), histogram.tolist(), bool(histogram.max() > cfg.collapse_share),
                        feature_space)


def score_images(model: DigitClassifier, images: torch.Tensor, real: FeatureStats, cfg: QualityConfig = QualityConfig(),
                 feature_space: str = "") -> QualityScore:
    features, probs = classify(model, images, cfg.batch)
    return score_features(features, probs, real, cfg, feature_space)


@torch.no_grad()
def score_generator(G: nn.Module, model: DigitClassifier, real: FeatureStats, cfg: QualityConfig = QualityConfig(),
                    feature_space: str = "") -> QualityScore:
    """Score cfg.samples images of G (eval mode) drawn from a fixed z."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    z = torch.randn(cfg.samples, G.cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
    images = torch.cat([G(chunk.to(device)).float() for chunk in z.split(cfg.batch)])
    G.train(was_training)
    return score_images(model, images, real, cfg, feature_space)


# -- the classifier: training, files, which one a dataset uses ---------------------------------------
def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 3, batch: int = 256, lr: float = 1e-3,
                     seed: int = 0, progress=None) -> DigitClassifier:
    """Train on uint8 images (N, C, H, W) and labels (N,); `progress(epoch, step, steps, loss)`."""
    torch.manual_seed(seed)
    model = DigitClassifier().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batch = min(batch, len(images))
    steps = len(images) // batch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr * 3, total_steps=epochs * steps)
    order = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(images), generator=order)
        for step in range(steps):
            idx = perm[step * batch:(step + 1) * batch]
            x = to_classifier_input(images[idx]).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x)[1], labels[idx].long())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if progress:
                progress(epoch, step + 1, steps, loss.item())
    return model.eval()


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (classify(model, images)[1].argmax(1) == labels.long()).float().mean().item()


def save_classifier(path: Path, model: DigitClassifier, **meta) -> None:
    from .fileio import atomic_save_torch

    atomic_save_torch(path, {"format": CLASSIFIER_FORMAT, "state_dict": {k: v.detach().cpu() for k, v in
                                                                          model.state_dict().items()}, **meta})


def load_classifier(path: Path) -> tuple[DigitClassifier, dict]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{path} is not a classifier saved by DCGAN Studio")
    with torch.random.fork_rng(devices=[]):  # building the layers draws random weights: keep the trainer's RNG
        model = DigitClassifier()
    model.load_state_dict(obj["state_dict"])
    return model.eval(), {k: v for k, v in obj.items() if k != "state_dict"}


def classifier_path(dataset: str, cache_dir: Path) -> Path:
    return SHIPPED_CLASSIFIER if dataset == "street-digits" else Path(cache_dir) / f"classifier-{dataset}.pt"


LABELLED = ("street-digits", "svhn", "mnist", "fashion-mnist", "cifar10")


def ensure_classifier(data_cfg, epochs: int = 3, progress=None) -> Path:
    """Train the dataset's scoring classifier once (train split), test it, and cache it with its test
    accuracy in the data folder; returns its path (at once when it exists). `progress(epoch, step, steps, loss)`."""
    from .datasets import data_dir, load_images

    path = classifier_path(data_cfg.dataset, data_dir(data_cfg) / "cache")
    if path.exists():
        return path
    cfg = type(data_cfg)(dataset=data_cfg.dataset, data_dir=data_cfg.data_dir)  # the whole set, whatever the run's limit
    train, test = load_images(cfg, INPUT_SIZE, 3, "train"), load_images(cfg, INPUT_SIZE, 3, "test")
    model = train_classifier(train.images, train.labels, epochs, progress=progress)
    save_classifier(path, model, dataset=cfg.dataset, test_accuracy=accuracy(model, test.images, test.labels),
                    epochs=epochs, train_images=len(train))
    return path


def classifier_for(dataset: str, cache_dir: Path) -> tuple[DigitClassifier, dict, str] | None:
    """The dataset's own classifier if one has been trained (street-digits ships one), else the
    street-digits classifier, said so in the returned feature-space name; None if neither exists."""
    for name in (dataset, "street-digits"):
        path = classifier_path(name, cache_dir)
        if path.exists():
            model, meta = load_classifier(path)
            space = f"{name} classifier" + ("" if name == dataset else f" (no {dataset} classifier: features of another)")
            return model, meta, space
    return None
