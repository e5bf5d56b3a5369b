"""Which real images a generator was trained on, and which it never saw: what the map overlays and the
memorisation check compares against.

  a run's generator (runs/<run>/generator.pt): its config.json says the dataset and the image limit, so its
      training images are exactly the set that config loads (its first ones when fewer are asked for);
  any other generator (shipped, uploaded): its file names the dataset only, so its training images are taken
      to be the whole training split (the shipped cards say so; an upload may have used fewer). A street-digits
      file must also name the drawing it was trained on (data/loading.py's DRAWING_KEY): a file from an older
      drawing (the shipped ones) saw other images of the same kind, so nothing can say whether it copies them;
  held out, for both: the dataset's test split, which no run trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.config import DataConfig
from dcgan.data.loading import DRAWING_KEY, drawing_version, load_first_images
from dcgan.data.registry import LABELLED
from dcgan.runs.directory import RunDirectory


@dataclass
class RealImages:
    train: torch.Tensor  # (N, C, H, W) uint8: the images the generator was trained on
    train_labels: torch.Tensor | None
    held_out: torch.Tensor  # (M, C, H, W) uint8: the test split, never trained on
    held_out_labels: torch.Tensor | None
    source: str  # how the training images were found, for the page to say
    exact: bool = True  # False: `train` are images of the same kind, not the ones the generator saw (see source)


def data_config_of(meta: dict, generator_path: Path | None) -> tuple[DataConfig, str, bool]:
    """(The data settings the generator was trained with, how that is known, whether those images are the very
    ones it saw)."""
    if generator_path is not None:
        run = RunDirectory(Path(generator_path).parent)
        if run.exists():
            data = run.read_run_config().data
            count = f"the first {data.limit:,}" if data.limit else "all"
            return data, f"run {run.name}'s config.json: {count} {data.dataset} training images", True
    dataset = meta.get("dataset")
    if not isinstance(dataset, str):
        raise ValueError("this generator's file does not say which dataset it was trained on")
    source = f"the file names {dataset} and no image limit: taken to be all of its training images"
    wanted = drawing_version(dataset)
    if wanted and meta.get(DRAWING_KEY) != wanted[DRAWING_KEY]:
        drawn = meta.get(DRAWING_KEY)
        return (
            DataConfig(dataset=dataset),
            (
                f"the file was trained on {dataset} images from "
                f"{'an older drawing' if drawn is None else f'drawing {drawn}'} (this version draws drawing "
                f"{wanted[DRAWING_KEY]}), so the images here are of the same kind but not the ones it saw"
            ),
            False,
        )
    return DataConfig(dataset=dataset), source, True


def has_labels(meta: dict) -> bool:
    return meta.get("dataset") in LABELLED


def real_images_of(
    meta: dict, generator_path: Path | None, size: int, channels: int, train_limit: int = 0, test_limit: int = 0
) -> RealImages:
    """The generator's training images (exactly its first `train_limit` when given: fewer load faster) and the
    held-out test split (its first `test_limit`), at its size and channels (DatasetUnavailable or ValueError when
    its dataset is not on this machine or not known)."""
    data, source, exact = data_config_of(meta, generator_path)
    if data.dataset == "folder":
        raise ValueError("a generator of a folder of images has no held-out images to compare with")
    train = load_first_images(data, train_limit, size, channels, "train")
    held_out_cfg = DataConfig(dataset=data.dataset, data_dir=data.data_dir)
    held_out = load_first_images(held_out_cfg, test_limit, size, channels, "test")
    return RealImages(train.images, train.labels, held_out.images, held_out.labels, source, exact)


def classifier_of_generator(meta: dict):
    """The ScoringClassifier of the labelled dataset a generator file names, or why there is none (a sentence that
    says what to do): what classes, the map, truncation's numbers and the memorisation check's features need."""
    from dcgan.config import DataConfig
    from dcgan.data.registry import LABELLED
    from dcgan.errors import CheckpointError, ConfigError
    from dcgan.quality.scoring_classifier import classifier_for

    dataset = meta.get("dataset")
    if dataset not in LABELLED:
        return (
            f"This generator was trained on {dataset or 'an unnamed dataset'}, which has no labels, so there is no "
            "classifier to read its samples' classes: classes, the map's colours and the classifier's numbers "
            "need a generator of a labelled dataset (street-digits, SVHN, MNIST, Fashion-MNIST, CIFAR-10)."
        )
    try:
        found = classifier_for(DataConfig(dataset=dataset))
    except (CheckpointError, ConfigError, OSError) as err:
        return f"The {dataset} classifier could not be read: {err}"
    if found is None or found.accuracy is None:
        return (
            f"No {dataset} classifier has been trained on this machine yet. It is trained (minutes on a CPU) the "
            f"first time a {dataset} run is scored, or with scripts/train_classifier.py; then reload the page or "
            "run the command again."
        )
    return found
