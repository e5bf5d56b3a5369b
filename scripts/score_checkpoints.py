"""Score each shipped generator (dcgan/quality.py) and write the figures into its card in checkpoints/.

  python scripts/score_checkpoints.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from dcgan.catalog import shipped_generators  # noqa: E402
from dcgan.checkpoint import load_generator  # noqa: E402
from dcgan.config import DataConfig  # noqa: E402
from dcgan.datasets import load_images  # noqa: E402
from dcgan.quality import (SHIPPED_CLASSIFIER, FeatureStats, QualityConfig, classify, load_classifier,  # noqa: E402
                           score_generator, score_images)

ROW = "| sample quality |"


def main() -> None:
    model, _ = load_classifier(SHIPPED_CLASSIFIER)
    cfg = QualityConfig()
    train = load_images(DataConfig(), 32, 3, "train")
    pick = torch.linspace(0, len(train) - 1, cfg.real_samples).long()
    real = FeatureStats.of(classify(model, train.images[pick])[0])
    test = load_images(DataConfig(), 32, 3, "test")
    held_out = score_images(model, test.images[:cfg.samples], real, cfg)
    for entry in shipped_generators():
        G, _ = load_generator(entry["path"])
        score = score_generator(G, model, real, cfg)
        line = (f"{ROW} Fréchet distance {score.frechet:.1f} in the street-digits classifier's features, confidence "
                f"{score.confidence:.2f}, Inception-like {score.inception_like:.2f} / 10 over {cfg.samples:,} samples "
                f"(real held-out images: {held_out.frechet:.1f}, {held_out.confidence:.2f}, {held_out.inception_like:.2f}); "
                f"classes made: {' '.join(f'{i}:{h:.0%}' for i, h in enumerate(score.histogram))} |")
        card = entry["card"]
        lines = [l for l in card.read_text().splitlines() if not l.startswith(ROW)]
        at = max(i for i, l in enumerate(lines) if l.startswith("| "))  # after the table's last row
        card.write_text("\n".join(lines[:at + 1] + [line] + lines[at + 1:]) + "\n")
        print(entry["name"], line)


if __name__ == "__main__":
    main()
