"""The quality score's classifier network and its files: what the score reads features and classes from.

A small classifier of 32 px digits (or of any labelled set's images, resized): three conv blocks and a
128-feature layer, whose features play the part Inception's play in FID. Its files are loaded as every file
of ours is (checkpoint.load_tagged: a zip of tensors, weights_only, the format tag), then each field is checked
before the network is built. Which classifier a dataset uses, and how it is trained and cached:
scoring_classifier.py; the scores: score.py.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dcgan.errors import CheckpointError
from dcgan.fileio import atomic_save_torch
from dcgan.paths import ASSETS
from dcgan.runs.checkpoint import CLASSIFIER_FORMAT, display_name, is_a, load_tagged, shown_value

INPUT_SIZE = 32  # every image is scored at 32 px RGB (grayscale repeated, other sizes resized)
FEATURES = 128
SHIPPED_CLASSIFIER = ASSETS / "classifier-street-digits.pt"
MAX_CLASSES = 1000  # a file's class count sizes the last layer: bounded, so a damaged file cannot ask for gigabytes
# What the scorer, the trainer's status and scripts/train_classifier.py read from a file besides its weights: the
# type each must have when present (older files lack some; is_current() retrains those).
METADATA_TYPES = {
    "classes": int,
    "dataset": str,
    "recipe": int,
    "test_accuracy": float,
    "validation_accuracy": float,
    "test_images": int,
    "validation_images": int,
    "train_images": int,
    "epochs": int,
    "max_epochs": int,
    "seconds": (int, float),
    "stopped": str,
    "source": list,
}
DAMAGED = (
    "the file is damaged or was edited: train it again with scripts/train_classifier.py --retrain (a deleted "
    "cached one is also retrained when a run needs it)"
)
SHOWN_DETAIL = 200  # characters of torch's reason a file's weights do not fit, quoted in the message


class DigitClassifier(nn.Module):
    """Three conv blocks (32 -> 16 -> 8 -> 4 px), a 128-feature layer, 10 classes."""

    def __init__(self, classes: int = 10):
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = 3
        for c_out in (32, 64, 128):
            blocks += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 4, FEATURES), nn.ReLU(inplace=True))
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, 32, 32) in [-1, 1] -> (features (B, 128), logits (B, classes))."""
        f = self.features(self.blocks(x))
        return f, self.head(f)


def to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] images of any size and 1 or 3 channels -> (B, 3, 32, 32) in [-1, 1],
    channels-last (the layout the CPU's convolutions run fastest in: 1.5x here)."""
    x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x.contiguous(memory_format=torch.channels_last)


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


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (classify(model, images)[1].argmax(1) == labels.long()).float().mean().item()


# -- classifier files ---------------------------------------------------------------------------------
def save_classifier(path: Path, model: DigitClassifier, **meta) -> None:
    atomic_save_torch(
        path,
        {
            "format": CLASSIFIER_FORMAT,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            **meta,
        },
    )


def load_classifier(path: Path) -> tuple[DigitClassifier, dict]:
    """(The classifier in eval mode, channels-last, the file's metadata). CheckpointError, naming the file and
    saying what to do, when it is absent, is not a classifier of ours, or holds a field of the wrong type,
    weights that do not fit the network, or NaN weights."""
    name = display_name(path, None)
    obj = load_tagged(path, CLASSIFIER_FORMAT, name)
    for key, kind in METADATA_TYPES.items():
        if key in obj and not is_a(obj[key], kind):
            raise CheckpointError(f"{name} holds {shown_value(obj[key])} as its {key!r}: {DAMAGED}")
    classes = obj.get("classes", 10)
    if not 2 <= classes <= MAX_CLASSES:
        raise CheckpointError(f"{name} says it tells {classes} classes apart, not 2 to {MAX_CLASSES}: {DAMAGED}")
    state = obj.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{name} has no 'state_dict' of tensors: {DAMAGED}")
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise CheckpointError(f"{name} holds NaN or infinite values in weight {shown_value(bad)}: {DAMAGED}")
    with torch.random.fork_rng(devices=[]):  # building the layers draws random weights: keep the trainer's RNG
        model = DigitClassifier(classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # missing, unexpected or misshapen weights; torch's first line only names the class
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else "RuntimeError")[:SHOWN_DETAIL]
        raise CheckpointError(f"{name} does not fit the scoring classifier's layers ({detail}): {DAMAGED}") from None
    return model.to(memory_format=torch.channels_last).eval(), {k: v for k, v in obj.items() if k != "state_dict"}
