"""What a run keeps besides its checkpoint: the average of G's weights (train/ema.py), a snapshot of G and D at
epoch ends (runs/snapshots.py), its sample grids (runs/sample_grids.py) and the generator at its best quality
score (runs/best.py), and which epoch ends write files (epoch_files_due). The trainer calls these at a few
points; the rules live in those modules."""

from __future__ import annotations

import math

from dcgan.fileio import atomic_save_torch
from dcgan.runs.best import SCORE_KEY, BestGenerator, is_usable_score
from dcgan.runs.sample_grids import SampleGrids
from dcgan.runs.snapshots import forget_after, snapshot_path, snapshot_state, thin_snapshots
from dcgan.runs.tensorboard_log import SAMPLES_TAG
from dcgan.train.ema import EMA_KEY, GeneratorEma
from dcgan.train.hacks import StepHacks
from dcgan.train.resuming import rng_state


class Keeper:
    def __init__(self, training, checkpoint: dict | None):
        """`training`: the trainer's _Training, restored from `checkpoint` (None for a new run) and with what came
        after that checkpoint discarded from the run folder."""
        self.training = training
        t = training.config.train
        writes = getattr(training, "writes", True)  # only one process writes the run folder
        if writes:  # later snapshots and a later best file belong to the training the checkpoint discarded
            forget_after(training.run, training.step, training.steps_per_epoch)
        self.ema = GeneratorEma.create(training.G, t, checkpoint)
        self.best = BestGenerator(training.run, training.config.data.dataset) if writes else None
        self.grids = SampleGrids(training.run)
        self.epoch_files_step: int | None = None  # the step of the last epoch end that wrote its files
        self.unsent_grid: tuple[int, str] | None = None  # the newest grid, when thinning kept it from TensorBoard
        # The best-scored epoch end's snapshot is never thinned away: the rollback offers it (suggest_epoch). Kept
        # here from the run's scores, not from best_generator.pt, which a resume may have removed.
        self.best_epoch: int | None = None
        self.best_epoch_score = math.inf
        for record in training.run.read_quality() if writes else []:
            self._note_score(record)

    @property
    def sampling_G(self):
        """The generator samples, scores and exported files come from: G's average when on, else G."""
        return self.ema.module if self.ema else self.training.G

    def back_to_training(self, G) -> None:
        """After sampling from `G` in eval mode: G itself trains again; the average always stays in eval mode."""
        if G is self.training.G:
            G.train()

    def step_options(self) -> dict:
        """GanStep's keywords for the GAN hacks and the average, continuing from the trainer's step."""
        training = self.training
        return {
            "hacks": StepHacks.of(training.config.train, training.steps_per_epoch),
            "ema": self.ema,
            "start_step": training.step,
        }

    def epoch_files_due(self, step: int) -> bool:
        """At an epoch's end: whether it writes a checkpoint, a snapshot and a grid. Yes at the first epoch end of a
        (re)start, at the last, and once train.epoch_files_min_images images trained since the last ones: a small
        dataset's epochs of a few milliseconds on a GPU would otherwise wait on the disk. The same on every rank."""
        training = self.training
        t = training.config.train
        # Images counted as whole epochs of the dataset (the partial last batch it drops included), so a dataset of
        # 20,000 images writes its files at every epoch's end.
        epochs = None if self.epoch_files_step is None else (step - self.epoch_files_step) / training.steps_per_epoch
        since = None if epochs is None else epochs * training.batches.count
        due = since is None or since >= t.epoch_files_min_images or step >= training.total_steps
        if due:
            self.epoch_files_step = step
        return due

    def checkpoint_extra(self) -> dict:
        return {EMA_KEY: self.ema.state_dict()} if self.ema else {}

    def snapshot(self, rng: dict) -> None:
        """snapshots/epochNNNN.pt at an epoch's end, written in the background like the checkpoint."""
        training = self.training
        if not getattr(training, "writes", True):
            return
        epoch = training.step // training.steps_per_epoch
        state = snapshot_state(
            G=training.G,
            D=training.D,
            step=training.step,
            epoch=epoch,
            elapsed_s=training.elapsed,
            rng=rng,
            lr=training.config.train.lr,
        )
        path, run = snapshot_path(training.run, epoch), training.run
        keep = () if self.best_epoch is None else (self.best_epoch,)

        def write_and_thin() -> None:
            atomic_save_torch(path, state)
            thin_snapshots(run, keep)

        training.writes_in_background.submit(write_and_thin)

    def save_grid(self, step: int, grid, board) -> None:
        """samples/stepNNNNNNN.png, and into TensorBoard's file when the thinning of long runs keeps it there."""
        path, to_board = self.grids.save(step, grid)
        if to_board:
            board.image(SAMPLES_TAG, step, path)
        self.unsent_grid = None if to_board else (step, path)

    def send_last_grid(self, board) -> None:
        """At the run's end: its last grid goes to TensorBoard even when thinning kept it out."""
        if self.unsent_grid is not None:
            board.image(SAMPLES_TAG, *self.unsent_grid)
            self.unsent_grid = None

    def consider_best(self, record: dict) -> None:
        """best_generator.pt when the new quality score beats the run's best so far. A scored epoch end also gets
        a snapshot when it writes no files of its own (epoch_files_due), so the rollback can offer the best-scored
        epoch (suggest_epoch); scores come rarely enough (their 5% budget) for that to cost little."""
        training = self.training
        if self.best is not None:
            self.best.consider(record, self.sampling_G, training.steps_per_epoch)
        step = record.get("step")
        if isinstance(step, int) and step % training.steps_per_epoch == 0 and step != self.epoch_files_step:
            self.snapshot(rng_state(training.device))
        self._note_score(record)

    def _note_score(self, record: dict) -> None:
        """Follow the best score at an epoch's end (one with a snapshot), whatever best_generator.pt holds."""
        steps_per_epoch, step, score = self.training.steps_per_epoch, record.get("step"), record.get(SCORE_KEY)
        if not (isinstance(step, int) and step % steps_per_epoch == 0 and is_usable_score(score)):
            return
        if score < self.best_epoch_score:
            self.best_epoch, self.best_epoch_score = step // steps_per_epoch, score
