"""The trainer's per-epoch sample-quality score, written to the run folder's quality.jsonl."""
from __future__ import annotations

import time

import torch

from .batches import StreamingBatches
from .config import RunConfig
from .datasets import data_dir
from .quality import LABELLED, FeatureStats, QualityConfig, classifier_for, classify, ensure_classifier, score_generator
from .rundir import RunDirectory


class EpochScorer:
    """Holds the classifier and the real images' feature statistics; called at each epoch's end."""

    def __init__(self, run: RunDirectory, model, real: FeatureStats, cfg: QualityConfig, space: str):
        self.run, self.model, self.real, self.cfg, self.space = run, model, real, cfg, space

    @classmethod
    def create(cls, run: RunDirectory, config: RunConfig, batches, device: torch.device) -> "EpochScorer | None":
        """None when scoring is off or no classifier exists."""
        samples = config.train.score_samples
        if samples and config.data.dataset in LABELLED:
            run.write_status(message=f"training the {config.data.dataset} scoring classifier (once per dataset)")
            ensure_classifier(config.data)
        found = classifier_for(config.data.dataset, data_dir(config.data) / "cache") if samples else None
        if found is None:
            return None
        model, _, space = found
        cfg = QualityConfig(samples=samples)
        if isinstance(batches, StreamingBatches):  # the reference images are decoded from disk
            run.write_status(message=f"reading {min(cfg.real_samples, batches.count):,} images for the quality score")
        model = model.to(device)
        real = FeatureStats.of(classify(model, batches.spread_sample(cfg.real_samples), cfg.batch)[0])
        return cls(run, model, real, cfg, space)

    def __call__(self, G, step: int, epoch: float) -> dict:
        start = time.perf_counter()
        score = score_generator(G, self.model, self.real, self.cfg, self.space)
        record = {"epoch": round(epoch, 4), "step": step, **score.to_dict(),
                  "seconds": round(time.perf_counter() - start, 3)}
        self.run.append_quality(record)
        return record
