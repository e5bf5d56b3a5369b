"""How many sample grids (samples/stepNNNNNNN.png) a long run keeps, and which go to TensorBoard.

A grid at each epoch's end is right for the usual run, but a small dataset makes epochs of a few steps (and
even at one grid per 20,000 images, train/keeping.py's epoch_files_due, a long run piles them up): 1,000
images at 16 px made 2,739 grids (121 MB) and a 118 MB event file in 32 minutes on a CPU, and a 64 px grid is
0.55 MB, so a long run on a small folder filled gigabytes. So the run's steps so far are cut into at most
`most` equal spans (a power of two of steps each, the smallest that does it) and each span keeps its first
grid; the newest grid always stays too (the live view shows it). Epoch-end grids, grids every `sample_every`
steps and the about-every-30-s grids of slow hardware are all thinned alike, and what is kept stays evenly
spread, so a timelapse (runs/timelapse.py) still plays at one speed. The spans only widen as the run goes on,
and a wider span's first grid is the first grid of its first narrower span, so no grid dropped would have been
kept later. (A rollback to an earlier step narrows them again: grids before it stay as thinned.)

TensorBoard's event file cannot be thinned afterwards, so a grid goes into it only when it is the first of its
span at the time: every grid while the run is short, then fewer and fewer (about `most` more each time the
spans double).
"""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.runs.directory import RunDirectory


@dataclass(frozen=True)
class GridKeeping:
    most: int = 400  # grids kept besides the newest; 400 grids of 64 px are 220 MB


def span_steps(newest_step: int, keeping: GridKeeping | None = None) -> int:
    """The width in steps of the spans that each keep one grid: the smallest power of two that cuts steps
    0 ... newest_step into at most keeping.most spans (1 while the run is that short: every grid is kept)."""
    keeping = keeping or GridKeeping()
    span = 1
    while newest_step // span + 1 > keeping.most:
        span *= 2
    return span


def grids_kept(steps: list[int], keeping: GridKeeping | None = None) -> list[int]:
    """Of the grids at `steps` (oldest first), those the rule keeps: the first of each span, and the newest."""
    if not steps:
        return []
    span = span_steps(steps[-1], keeping)
    kept, spans = [], set()
    for step in steps[:-1]:
        if step // span not in spans:
            spans.add(step // span)
            kept.append(step)
    return [*kept, steps[-1]]


class SampleGrids:
    """The trainer's side: saves each grid, says whether it goes to TensorBoard, and thins the folder."""

    def __init__(self, run: RunDirectory, keeping: GridKeeping | None = None):
        self.run, self.keeping = run, keeping or GridKeeping()
        self.steps = [step for step, _ in run.samples()]  # a resumed run's, those after its checkpoint gone

    def save(self, step: int, image) -> tuple[str, bool]:
        """Write the grid of `step`; (its path, whether TensorBoard should get it). Thins older grids after."""
        path = self.run.save_sample(step, image)
        older = [s for s in self.steps if s < step]
        kept = grids_kept([*older, step], self.keeping)
        for gone in set(older) - set(kept):
            self.run.sample_path(gone).unlink(missing_ok=True)
        self.steps = kept
        span = span_steps(step, self.keeping)
        first_of_its_span = all(s // span != step // span for s in kept[:-1])
        return str(path), first_of_its_span
