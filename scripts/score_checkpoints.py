"""Score each shipped generator (dcgan/quality/score.py) and write the figures into its card in checkpoints/.

Each card's "sample quality" row says which classifier scored, its test accuracy (and whether that makes the
score reliable), the Fréchet distance, precision, recall, density and coverage, against the same figures
for real held-out images.
  python -m scripts.score_checkpoints
"""

from __future__ import annotations

from dcgan.config import DataConfig
from dcgan.data.loading import load_images
from dcgan.quality.digit_classifier import classify
from dcgan.quality.score import (
    QualityConfig,
    RealReference,
    reliability_note,
    score_generator,
    score_images,
    spread,
)
from dcgan.quality.scoring_classifier import classifier_for
from dcgan.runs.catalog import shipped_generators
from dcgan.runs.generator_file import load_generator

ROW = "| sample quality |"


def figures(score) -> str:
    return (
        f"Fréchet distance {score.frechet:.1f}, precision {score.precision:.2f}, recall {score.recall:.2f}, "
        f"density {score.density:.2f}, coverage {score.coverage:.2f}, confidence {score.confidence:.2f}, "
        f"Inception-like {score.inception_like:.2f} / 10"
    )


def main() -> None:
    classifier = classifier_for(DataConfig())
    cfg = QualityConfig()
    train = load_images(DataConfig(), 32, 3, "train")
    real = RealReference.of(classify(classifier.model, train.images[spread(len(train), cfg.real_samples)])[0])
    test = load_images(DataConfig(), 32, 3, "test")  # rendered from another seed: held out from both
    held_out = score_images(
        classifier.model, test.images[: cfg.samples], real, cfg, classifier.feature_space, classifier.accuracy
    )
    note = reliability_note(held_out.to_dict()) or "reliable"
    for entry in shipped_generators():
        G, _ = load_generator(entry["path"])
        score = score_generator(G, classifier.model, real, cfg, classifier.feature_space, classifier.accuracy)
        line = (
            f"{ROW} {figures(score)}, over {cfg.samples:,} samples in the {classifier.feature_space}'s features "
            f"(test accuracy {classifier.accuracy:.2%}: {note}); real held-out images: {figures(held_out)}; "
            f"classes made: {' '.join(f'{i}:{h:.0%}' for i, h in enumerate(score.histogram))} |"
        )
        card = entry["card"]
        lines = [text for text in card.read_text().splitlines() if not text.startswith(ROW)]
        at = max(i for i, text in enumerate(lines) if text.startswith("| "))  # after the table's last row
        card.write_text("\n".join(lines[: at + 1] + [line] + lines[at + 1 :]) + "\n")
        print(entry["name"], line)


if __name__ == "__main__":
    main()
