"""best_generator.pt: the generator as it was at the run's best sample-quality score so far.

The last checkpoint is often far from the best (a published CIFAR-10 DCGAN log: FID 49 at step 42k, 137 at the
end). Each quality score (quality/tracker.py, quality.jsonl) is compared with the best one so far; a lower
Fréchet distance writes best_generator.pt atomically, with its score, epoch and step inside (and in status.json's
best_generator). Scores the tracker itself calls unreliable (a classifier near chance) still count: they are
the only score such a run has, and the file says what the score was.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from dcgan.data.loading import drawing_version
from dcgan.runs.directory import RunDirectory
from dcgan.runs.generator_file import export_generator
from dcgan.runs.snapshots import BEST_NAME

SCORE_KEY = "frechet"  # quality.jsonl's Fréchet distance in the classifier's features: lower is better


class BestGenerator:
    def __init__(self, run: RunDirectory, dataset: str):
        self.run, self.dataset = run, dataset
        self.path = run.path / BEST_NAME
        # A resumed run's scores so far (those after its checkpoint are gone, and with them a later best file).
        scores = [r[SCORE_KEY] for r in run.read_quality() if is_usable_score(r.get(SCORE_KEY))]
        self.best = min(scores) if scores and self.path.exists() else math.inf

    def consider(self, record: dict, G, steps_per_epoch: int) -> bool:
        """Write best_generator.pt from `G` if `record` (a quality.jsonl line) beats the best so far."""
        score = record.get(SCORE_KEY)
        if not is_usable_score(score) or score >= self.best:
            return False
        self.best = score
        best = {SCORE_KEY: score, "epoch": record["epoch"], "step": record["step"]}
        export_generator(
            self.path,
            G,
            step=record["step"],
            dataset=self.dataset,
            extra={
                "run": self.run.name,
                "epochs": record["step"] / steps_per_epoch,
                "best": best,
                **drawing_version(self.dataset),
            },
        )
        self.run.write_status(best_generator=best)
        return True


def is_usable_score(score) -> TypeGuard[float]:
    return isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)
