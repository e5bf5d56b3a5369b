"""Each labelled dataset's scoring classifier: trained until good, tested, cached with its accuracy, and chosen
for a run (classifier_for; another dataset's stands in, said so, when a dataset has none).

Once per dataset, on its training files only (no test files needed): the set is split deterministically
into training, validation and test images; the classifier trains with early stopping on the validation
accuracy, within a step budget that gives a small set many epochs and a large one few, with light
augmentation on small sets; its accuracy on the test images is stored in the file and shown beside every
score (score.py says what counts as reliable). street-digits' classifier ships in dcgan/assets/. The network
and its files: digit_classifier.py.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from dcgan.errors import CheckpointError
from dcgan.quality.digit_classifier import (
    SHIPPED_CLASSIFIER,
    DigitClassifier,
    accuracy,
    load_classifier,
    save_classifier,
    to_classifier_input,
)

# Bumped whenever training changes: a cached classifier of another recipe (the old fixed 3 epochs, which
# left SVHN's at chance) is retrained, never trusted.
RECIPE = 2
SPLIT_SEED = 2019
HELD_OUT_SHARE = 0.15  # of the training set, for validation and again for test
MAX_HELD_OUT = 5000  # images per held-out part: enough for accuracy to +-0.5%, the rest trains
BATCH = 128
LR = 1e-3
STEP_BUDGET = 4000  # optimizer steps at most: 1,500 images get MAX_EPOCHS, SVHN's 73,000 about 10
MAX_EPOCHS = 60
PATIENCE = 5  # epochs without a better validation accuracy before stopping
LR_PATIENCE = 2  # ... before the learning rate drops by LR_DROP
LR_DROP = 0.3
AUGMENT_BELOW = 20_000  # training images under which random shifts, turns and scaling are added
MAX_SHIFT, MAX_TURN_DEG, MAX_SCALE = 0.125, 10.0, 0.1  # 2 px of 32; all keep a digit the same digit
MIRROR_SAFE = ("cifar10", "fashion-mnist")  # a mirrored shoe or truck is one still; a mirrored digit is not


@dataclass
class Split:
    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor


def split_indices(count: int, seed: int = SPLIT_SEED) -> Split:
    """The same split of range(count) on every machine: test, validation, then the rest for training."""
    held_out = min(MAX_HELD_OUT, round(count * HELD_OUT_SHARE))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return Split(order[2 * held_out :], order[held_out : 2 * held_out], order[:held_out])


def max_epochs(train_images: int, batch: int = BATCH) -> int:
    steps_per_epoch = max(1, train_images // batch)
    return max(1, min(MAX_EPOCHS, math.ceil(STEP_BUDGET / steps_per_epoch)))


def augment(x: torch.Tensor, generator: torch.Generator, mirror: bool) -> torch.Tensor:
    """A random small shift, turn and scaling of each image (and a left-right mirror when `mirror`)."""
    n = x.shape[0]
    uniform = lambda *shape: torch.rand(*shape, generator=generator) * 2 - 1
    turn, scale = uniform(n) * math.radians(MAX_TURN_DEG), 1 + uniform(n) * MAX_SCALE
    cos, sin = torch.cos(turn) / scale, torch.sin(turn) / scale
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if mirror else torch.ones(n)
    shift = uniform(n, 2) * MAX_SHIFT
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False).contiguous(
        memory_format=torch.channels_last
    )


@dataclass
class TrainingProgress:
    epoch: int  # epochs done
    max_epochs: int  # the budget; early stopping usually ends sooner
    validation_accuracy: float  # the best so far
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        """Time left if the whole budget is used: an upper bound."""
        return self.elapsed_s / max(self.epoch, 1) * (self.max_epochs - self.epoch)

    def describe(self) -> str:
        return f"epoch {self.epoch} of at most {self.max_epochs} · validation accuracy {self.validation_accuracy:.1%}"


def train_until_good(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: int = 10,
    mirror: bool = False,
    progress=None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[DigitClassifier, dict]:
    """Train on uint8 images (N, C, H, W) and labels (N,), split by split_indices; keep the weights of the best
    validation accuracy. Returns (model in eval mode, what its file stores about it). `progress(TrainingProgress)`
    after each epoch."""
    start, split = time.perf_counter(), split_indices(len(images))
    labels = labels.long()
    torch.manual_seed(seed)
    model = DigitClassifier(classes).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed)
    batch, augmented = min(BATCH, len(split.train)), len(split.train) < AUGMENT_BELOW
    budget = max_epochs(len(split.train), batch)
    best, since_best, epochs, stopped = -1.0, 0, 0, f"the budget of {budget} epochs"
    best_state = copy.deepcopy(model.state_dict())  # replaced after the first epoch: any accuracy beats -1
    for epoch in range(budget):
        _train_epoch(model, optimizer, images, labels, split.train, batch, generator, augmented, mirror)
        epochs = epoch + 1
        validation = accuracy(model, images[split.validation], labels[split.validation])
        if validation > best:
            best, best_state, since_best = validation, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if since_best % LR_PATIENCE == 0:
                for group in optimizer.param_groups:
                    group["lr"] *= LR_DROP
        if progress:
            progress(TrainingProgress(epochs, budget, best, time.perf_counter() - start))
        if since_best >= PATIENCE:
            stopped = f"no better validation accuracy for {PATIENCE} epochs"
            break
    model.load_state_dict(best_state)
    model.eval()
    report = {
        "test_accuracy": accuracy(model, images[split.test], labels[split.test]),
        "validation_accuracy": best,
        "test_images": len(split.test),
        "validation_images": len(split.validation),
        "train_images": len(split.train),
        "epochs": epochs,
        "max_epochs": budget,
        "stopped": stopped,
        "augmented": augmented,
        "mirrored": mirror and augmented,
        "recipe": RECIPE,
        "seconds": round(time.perf_counter() - start, 1),
    }
    return model, report


def _train_epoch(model, optimizer, images, labels, train, batch, generator, augmented, mirror) -> None:
    model.train()
    device = next(model.parameters()).device
    order = train[torch.randperm(len(train), generator=generator)]
    for step in range(len(order) // batch):
        idx = order[step * batch : (step + 1) * batch]
        x = to_classifier_input(images[idx].to(device))
        if augmented:
            x = augment(x, generator, mirror)
        loss = F.cross_entropy(model(x)[1], labels[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


# -- which classifier a dataset uses, and its cache -------------------------------------------------------
def classifier_path(dataset: str, cache_dir: Path) -> Path:
    return SHIPPED_CLASSIFIER if dataset == "street-digits" else Path(cache_dir) / f"classifier-{dataset}.pt"


def _cache_dir(data_cfg) -> Path:
    from dcgan.data.loading import data_dir

    return data_dir(data_cfg) / "cache"


def source_files(data_cfg) -> list[list]:
    """[name, bytes] of each file the dataset's training set is read from: a classifier cached for other files
    (a 1,500-image SVHN replaced by the whole set) is retrained."""
    from dcgan.data.loading import data_dir
    from dcgan.data.registry import dataset_info

    info = dataset_info(data_cfg.dataset)
    folder = data_dir(data_cfg) / info.folder
    found = [next((folder / n for n in names if (folder / n).is_file()), None) for names in info.train_files]
    return [[path.name, path.stat().st_size] for path in found if path is not None]


def is_current(meta: dict, data_cfg) -> bool:
    """A cached classifier is used only when this recipe trained it on these files and it knows its accuracy."""
    return (
        meta.get("recipe") == RECIPE
        and meta.get("source") == source_files(data_cfg)
        and isinstance(meta.get("test_accuracy"), float)
    )


def needs_training(data_cfg) -> bool:
    """True when scoring this labelled dataset must first train its classifier (minutes on a CPU)."""
    from dcgan.data.registry import LABELLED

    if data_cfg.dataset not in LABELLED or data_cfg.dataset == "street-digits":
        return False
    path = classifier_path(data_cfg.dataset, _cache_dir(data_cfg))
    try:
        return not is_current(load_classifier(path)[1], data_cfg)
    except CheckpointError:  # absent, damaged, or not a classifier file: trained again
        return True


def ensure_classifier(data_cfg, progress=None, device: torch.device | str = "cpu", retrain: bool = False) -> Path:
    """The dataset's scoring classifier, trained now if no current one is cached (see needs_training) or
    `retrain` says so (street-digits' then replaces the shipped one); its path. `progress(TrainingProgress)`
    after each epoch."""
    from dcgan.data.loading import load_images
    from dcgan.data.registry import dataset_info

    path = classifier_path(data_cfg.dataset, _cache_dir(data_cfg))
    if not (retrain or needs_training(data_cfg)):
        return path
    whole = type(data_cfg)(
        dataset=data_cfg.dataset, data_dir=data_cfg.data_dir
    )  # all its images, whatever the run's limit
    data = load_images(whole, 32, 3, "train")
    info = dataset_info(data_cfg.dataset)
    with torch.random.fork_rng(devices=[]):  # seeded on its own: a run that trains it draws as one that found it cached
        model, report = train_until_good(
            data.images, data.required_labels(), info.classes, data_cfg.dataset in MIRROR_SAFE, progress, device=device
        )
    save_classifier(
        path, model, dataset=data_cfg.dataset, classes=info.classes, source=source_files(data_cfg), **report
    )
    return path


@dataclass
class ScoringClassifier:
    model: DigitClassifier
    meta: dict
    feature_space: str  # what a person reads: "mnist classifier", or whose features stand in
    accuracy: float | None  # its test accuracy on held-out images of the run's dataset; None = not its dataset
    identity: str  # a digest of its file: features cached with it belong to it


def classifier_for(data_cfg) -> ScoringClassifier | None:
    """The dataset's own current classifier, else the street-digits one standing in (said so in the feature
    space's name, with no accuracy: it was never tested on these images); None if neither exists."""
    own = classifier_path(data_cfg.dataset, _cache_dir(data_cfg))
    if own.exists() and (data_cfg.dataset == "street-digits" or not needs_training(data_cfg)):
        model, meta = load_classifier(own)
        return ScoringClassifier(model, meta, f"{data_cfg.dataset} classifier", meta.get("test_accuracy"), _digest(own))
    if not SHIPPED_CLASSIFIER.exists():
        return None
    model, meta = load_classifier(SHIPPED_CLASSIFIER)
    whose = "unlabelled images" if data_cfg.dataset == "folder" else data_cfg.dataset
    return ScoringClassifier(
        model,
        meta,
        f"street-digits classifier (no {whose} classifier: features of another)",
        None,
        _digest(SHIPPED_CLASSIFIER),
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
