"""Score each shipped generator (dcgan/quality.py) and write the figures into its card in checkpoints/.

Each card's "sample quality" row says which classifier scored, its test accuracy (and whether that makes the
score reliable), the Fréchet distance, precision, recall, density and coverage, against the same figures
for real held-out images.
  python scripts/score_checkpoints.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dcgan.catalog import shipped_generators  # noqa: E402
from dcgan.config import DataConfig  # noqa: E402
from dcgan.datasets import load_images  # noqa: E402
from dcgan.generator_file import load_generator  # noqa: E402
from dcgan.quality import (  # noqa: E402
    QualityConfig,
    RealReference,
    classify,
    reliability_note,
    score_generator,
    score_images,
    spread,
)
from dcgan.scoring_classifier import classifier_for  # noqa: E402

ROW = "| sample quality |"


def figures(score) -> str:
    return (f"Fréchet distance {score.frechet:.1f}, precision {score.precision:.2f}, recall {score.recall:.2f}, "
            f"density {score.density:.2f}, coverage {score.coverage:.2f}, confidence {score.confidence:.2f}, "
            f"Inception-like {score.inception_like:.2f} / 10")


def main() -> None:
    classifier = classifier_for(DataConfig())
    cfg = QualityConfig()
    train = load_images(DataConfig(), 32, 3, "train")
    real = RealReference.of(classify(classifier.model, train.images[spread(len(train), cfg.real_samples)])[0])
    test = load_images(DataConfig(), 32, 3, "test")  # rendered from another seed: held out from both
    held_out = score_images(classifier.model, test.images[:cfg.samples], real, cfg, classifier.feature_space,
                            classifier.accuracy)
    note = reliability_note(held_out.to_dict()) or "reliable"
    for entry in shipped_generators():
        G, _ = load_generator(entry["path"])
        score = score_generator(G, classifier.model, real, cfg, classifier.feature_space, classifier.accuracy)
        line = (f"{ROW} {figures(score)}, over {cfg.samples:,} samples in the {classifier.feature_space}'s features "
                f"(test accuracy {classifier.accuracy:.2%}: {note}); real held-out images: {figures(held_out)}; "
                f"classes made: {' '.join(f'{i}:{h:.0%}' for i, h in enumerate(score.histogram))} |")
        card = entry["card"]
        lines = [l for l in card.read_text().splitlines() if not l.startswith(ROW)]
        at = max(i for i, l in enumerate(lines) if l.startswith("| "))  # after the table's last row
        card.write_text("\n".join(lines[:at + 1] + [line] + lines[at + 1:]) + "\n")
        print(entry["name"], line)


if __name__ == "__main__":
    main()
