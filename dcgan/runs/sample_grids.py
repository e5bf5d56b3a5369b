"""How many sample grids (samples/stepNNNNNNN.png) a long run keeps, and which go to TensorBoard.

A grid at each epoch's end is right for the usual run, but a small dataset makes epochs of a few steps: 1,000
images at 16 px made 2,739 grids (121 MB) and a 118 MB event file in 32 minutes on a CPU, and a 64 px grid is
0.55 MB, so a long run on a small folder filled gigabytes. Once a run has had more than `most` epochs (or
grids), its grids are thinned to epochs a power of two apart, the smallest such spacing that fits its epochs
so far into `most`; the newest grid always stays (the live view shows it). The grids kept stay evenly spaced,
so a timelapse (runs/timelapse.py) still plays at one speed. The grids nest: the spacing only grows, and a grid
on a wider spacing is on every narrower one, so no grid dropped would have been kept later.

TensorBoard's event file cannot be thinned afterwards, so a grid goes into it only when it is on the spacing
of the moment: every grid until thinning starts, then fewer and fewer (about `most` more each time the spacing
doubles).
"""

from __future__ import annotations

from dataclasses import dataclass

from dcgan.runs.directory import RunDirectory


@dataclass(frozen=True)
class GridKeeping:
    most: int = 400  # grids kept besides the newest; 400 grids of 64 px are 220 MB


def grid_spacing(steps: list[int], steps_per_epoch: int, keeping: GridKeeping | None = None) -> int:
    """The spacing in steps of the grids kept, for the grids at `steps` (oldest first, the newest last): 1 (all)
    while they number at most keeping.most and the run has had at most that many epochs; else steps_per_epoch
    times the smallest power of two that fits the run's epochs so far into keeping.most. It follows the newest
    step, not the grids left, so it only grows and the grids kept stay evenly spaced."""
    keeping = keeping or GridKeeping()
    unit = max(1, steps_per_epoch)
    if not steps or (len(steps) <= keeping.most and steps[-1] // unit <= keeping.most):
        return 1
    spacing = unit
    while steps[-1] // spacing > keeping.most:
        spacing *= 2
    return spacing


class SampleGrids:
    """The trainer's side: saves each grid, says whether it goes to TensorBoard, and thins the folder."""

    def __init__(self, run: RunDirectory, steps_per_epoch: int, keeping: GridKeeping | None = None):
        self.run, self.steps_per_epoch, self.keeping = run, steps_per_epoch, keeping or GridKeeping()
        self.steps = [step for step, _ in run.samples()]  # a resumed run's, those after its checkpoint gone

    def save(self, step: int, image) -> tuple[str, bool]:
        """Write the grid of `step`; (its path, whether TensorBoard should get it). Thins older grids after."""
        path = self.run.save_sample(step, image)
        self.steps = [s for s in self.steps if s < step] + [step]
        spacing = grid_spacing(self.steps, self.steps_per_epoch, self.keeping)
        for gone in [s for s in self.steps[:-1] if s % spacing]:
            self.run.sample_path(gone).unlink(missing_ok=True)
        self.steps = [s for s in self.steps[:-1] if s % spacing == 0] + [step]
        return str(path), step % spacing == 0
