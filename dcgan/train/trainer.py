"""The training loop: reads a run folder's config.json, trains, and writes everything else in it.

Resumable at any moment: a checkpoint holds the nets, optimizers, step, RNG states and fixed z;
the data order is a function of (seed, epoch), so a resumed run continues mid-epoch at the same
batch, and metrics lines written after the checkpoint are dropped and written again. A stop
(STOP file, SIGTERM, Ctrl-C or `abort_fn`) ends at the next step with a checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from functools import partial

import torch

from dcgan import __version__
from dcgan.data.batches import make_batches, skipped_files
from dcgan.data.loading import drawing_version
from dcgan.devices import device_label
from dcgan.errors import CheckpointError, ResumeRefused, RunDamaged
from dcgan.fileio import atomic_save_torch
from dcgan.images import image_grid
from dcgan.models import seeded_z
from dcgan.quality.tracker import EpochScorer
from dcgan.runs.checkpoint import checkpoint_state, cpu_copy, load_checkpoint
from dcgan.runs.directory import RunDirectory
from dcgan.runs.generator_file import export_generator
from dcgan.runs.records import Metric
from dcgan.runs.tensorboard_log import TensorBoardLog, run_hparams
from dcgan.train.background_writes import BackgroundWrites
from dcgan.train.distributed import Solo
from dcgan.train.failures import record_failure
from dcgan.train.hacks import d_lr, g_lr
from dcgan.train.keeping import Keeper
from dcgan.train.nets import build_nets, build_step
from dcgan.train.resuming import checkpoint_to_resume, rng_state, set_rng_state
from dcgan.train.step_clock import StepClock
from dcgan.train.stop_signal import StopSignal

AUTO_SAMPLE_SECONDS = 30.0  # with sample_every=0, a grid about this often (slow hardware), besides epoch ends
# An epoch end that writes no files (keeping.epoch_files_due) still draws its grid when the last is this old: a
# grid per epoch where epochs last seconds (a small dataset on a CPU), not per 20 ms epoch on a GPU.
EPOCH_GRID_SECONDS = 2.0


def train_run(run: RunDirectory, progress_fn=None, abort_fn=None, lock_fd: int | None = None, team=None) -> dict:
    """Train (or resume) the run in `run`; returns the final status. Never leaves the lock behind.

    The lock is taken here unless `run` already holds it (a resume that first changed a setting) or a
    launcher handed it over (`lock_fd`, see runs/lock.py); RunLocked if another process trains the run.
    A refused resume (ResumeRefused, a damaged config or checkpoint) raises before anything is written.
    `team`: the processes training the run together (train/distributed.py); None = this one alone."""
    team = team or Solo()
    team.take_lock(run, lock_fd)
    training = None
    try:
        training = _Training(run, progress_fn, abort_fn, team)
        return training.loop()
    except (ResumeRefused, RunDamaged, CheckpointError):
        raise
    except Exception as err:
        if team.writes:
            record_failure(run, err, team.explain_failure(err, training.step if training else 0))
        raise
    finally:
        run.release_lock()


class _Training:
    def __init__(self, run: RunDirectory, progress_fn, abort_fn, team):
        self.run, self.progress_fn, self.abort_fn, self.team = run, progress_fn, abort_fn, team
        self.writes = team.writes  # rank 0, or the only process: the one that writes the run folder
        self.step = 0
        raw = run.read_config()
        self.config = cfg = run.read_run_config()
        checkpoint = checkpoint_to_resume(run, cfg)  # refusals come before anything is written
        t = cfg.train
        self.device = team.resolve_device(t.device)
        run.remove_leftover_temp_files()  # of writes a killed trainer never finished
        torch.manual_seed(t.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        run.write_status(
            state="starting",
            message="loading data",
            pid=os.getpid(),
            error=None,
            device=device_label(self.device),
            epochs=t.epochs,
            processes=team.world_size,
        )
        if team.world_size == 1:
            self.batches = make_batches(cfg.data, cfg.model, t.batch_size, self.device, t.seed)
        else:  # this process's share of each global batch (data/sharded.py)
            self.batches = team.batches(cfg.data, cfg.model, t.batch_size, self.device, t.seed)
        self.steps_per_epoch = self.batches.steps_per_epoch
        self.total_steps = t.epochs * self.steps_per_epoch

        nets = build_nets(cfg, team, self.device, self.total_steps)  # train/nets.py
        self.G, self.D, self.opt_g, self.opt_d = nets.G, nets.D, nets.opt_g, nets.opt_d
        self.compiled, self.memory_format = nets.compiled, nets.memory_format

        self.step, self.elapsed = 0, 0.0
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            self.fixed_z = seeded_z(t.seed, t.sample_count, cfg.model.z_dim)
            run.write_config(
                {
                    **cfg.to_dict(),
                    "version": __version__,
                    "device_used": device_label(self.device),
                    "created": raw.get("created", time.time()),
                }
            )
            reals = self.batches.first(t.sample_count) if hasattr(self.batches, "first") and self.writes else None
            if reals is not None:
                from dcgan.fileio import atomic_save_image

                atomic_save_image(run.reals_path, image_grid(reals))
        run.discard_after(self.step)
        self.keeper = Keeper(self, checkpoint)  # G's average, snapshots, grids, best_generator.pt (train/keeping.py)
        team.seed_noise(t.seed, self.step)
        recorded = team.record(raw := run.read_config(), t.batch_size, t.sync_batchnorm)
        if recorded != raw:  # several processes say how many, and a run resumed by one drops that
            run.write_config(recorded)
        run.write_status(compile=self.compiled.why)

        self.step_fn = build_step(nets, cfg, team, self.device, self.keeper.step_options())
        self.writes_in_background = BackgroundWrites(self.device)
        # quality.jsonl; None = not scored. Preparing it may train the dataset's classifier first (once per
        # dataset), with its progress in status.json and through progress_fn: never a silent wait.
        self.scorer = EpochScorer.create(run, cfg, self.batches, self.device, progress_fn) if self.writes else None
        self.clock = StepClock(self.step)
        self.board = TensorBoardLog("not opened yet")  # event files beside metrics.jsonl, opened by loop()
        team.barrier()  # every process has read the checkpoint it resumes from before rank 0 writes a new one

    def _restore(self, ckpt: dict) -> None:
        self.G.load_state_dict(ckpt["generator"])
        self.D.load_state_dict(ckpt["discriminator"])
        for opt, saved in ((self.opt_g, ckpt["opt_generator"]), (self.opt_d, ckpt["opt_discriminator"])):
            if saved:  # {} after a rollback (runs/snapshots.py): Adam starts afresh
                opt.load_state_dict(saved)
        # Those state dicts carry the learning rate and betas the checkpoint trained with; a resume trains with
        # config.json's, which a resume may change (the app's "resume with half the learning rate").
        t = self.config.train
        for opt, lr in ((self.opt_g, g_lr(t)), (self.opt_d, d_lr(t))):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr, (t.beta1, t.beta2)
        self.step, self.elapsed = ckpt["step"], ckpt.get("elapsed_s", 0.0)
        self.fixed_z = ckpt["fixed_z"]
        set_rng_state(ckpt["rng"], self.device)

    # -- the loop ----------------------------------------------------------------------------------
    def loop(self) -> dict:
        """Train to the end (or a stop), then write the final checkpoint, generator and status. The writer
        thread and the event file are closed on every way out, an exception's included."""
        try:
            return self._finish(self._train())
        finally:
            self.writes_in_background.shutdown()
            self.board.close()

    def _open_board(self) -> None:
        """TensorBoard's event file (when tensorboard is installed); a resume's hides what a killed process
        logged after the checkpoint it continues from. Never raises (tensorboard_log.py)."""
        if not self.writes:
            return
        self.board = TensorBoardLog.open(
            self.run.path,
            self.step,
            hparams=run_hparams(self.config.to_dict(), device_label(self.device)),
            reals=self.run.reals_path if self.step == 0 else None,
        )

    def _train(self) -> str:
        """The training loop; returns how it ended: running (all steps done), stopped or diverged."""
        t, run = self.config.train, self.run
        if not run.checkpoint_path.exists():
            # A first checkpoint before any metrics line: a run with metrics but no checkpoint then always
            # means one was lost, and resume refuses instead of silently starting over (resuming.py).
            self._checkpoint(wait=True)
        self._open_board()
        self.clock = StepClock(self.step)  # a (re)start's first window holds the start-up: no ETA from it
        # A new run logs its first step at once, so its chart has a point seconds after Start (a resume's chart
        # has its points already, and keeps its lines' windows where they were).
        first_step = 1 if self.step == 0 else None
        last_checkpoint = last_sample = time.perf_counter()
        state = "running"
        run.write_status(
            state="running",
            message=None,
            eta_s=None,  # not the ETA an interrupted process left behind: estimating again
            step=self.step,
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            images=self.batches.count,
            dataset=self.batches.name,
            skipped_files=skipped_files(self.batches.skipped),
            tensorboard=self.board.describe(),
        )
        with StopSignal() as signals:
            while self.step < self.total_steps and state == "running":
                epoch, start = divmod(self.step, self.steps_per_epoch)
                for real in self.batches.epoch(epoch, start):
                    self.step_fn(real.contiguous(memory_format=self.memory_format))
                    self.step += 1
                    epoch_end = self.step % self.steps_per_epoch == 0
                    epoch_files = epoch_end and self.keeper.epoch_files_due(self.step)  # checkpoint, snapshot, grid
                    now = time.perf_counter()
                    log_step = self.step % t.log_every == 0 or epoch_end or self.step == first_step
                    # Several processes agree on these at logging steps (distributed.py); one decides each step.
                    checkpoint_due, stop_asked = self.team.agree(
                        log_step,
                        now - last_checkpoint > t.checkpoint_every_s,
                        signals.raised or run.stop_requested() or bool(self.abort_fn and self.abort_fn()),
                    )
                    if log_step:
                        state = self._log()
                        if state != "running":
                            break
                    if (
                        epoch_files
                        or (epoch_end and now - last_sample >= EPOCH_GRID_SECONDS)
                        or (t.sample_every and self.step % t.sample_every == 0)
                        or (not t.sample_every and now - last_sample > AUTO_SAMPLE_SECONDS)
                    ):
                        self._sample()
                        last_sample = time.perf_counter()
                    if self.scorer and (epoch_end or (t.score_every and self.step % t.score_every == 0)):
                        self._score(self.scorer, asked=bool(t.score_every and self.step % t.score_every == 0))
                    if epoch_files or checkpoint_due:
                        state = self._log()
                        if state != "running":
                            break
                        self._checkpoint()
                        last_checkpoint = time.perf_counter()
                        if epoch_files:
                            self.keeper.snapshot(rng_state(self.device))
                    if stop_asked:
                        state = "stopped"
                        break
        return state

    def _score(self, scorer: EpochScorer, asked: bool) -> None:
        """Score the generator: at an epoch end when the scorer's time budget allows, at a `score_every` step
        always. Its time is left out of the training window, so images/s is of training alone (quality.jsonl
        and status.json's scoring_s say what the score cost)."""
        started = time.perf_counter()
        epoch = self.step / self.steps_per_epoch
        record: dict | None
        G = self.keeper.sampling_G  # G's average when the run keeps one
        if asked:
            record = scorer.score(G, self.step, epoch, self.elapsed)
        else:
            record = scorer.at_epoch_end(G, self.step, round(epoch), self.elapsed)
        if record is not None:
            self.board.quality(record)
            self.keeper.consider_best(record)
        self.clock.leave_out(time.perf_counter() - started)

    def _log(self) -> str:
        """Write a metrics line for the steps since the last one; 'diverged' if a loss is NaN/inf."""
        stats = self.step_fn.read_stats()
        if stats is None:
            return "running"
        steps, seconds = self.clock.lap(self.step)
        self.elapsed += seconds
        images_per_s = steps * self.config.train.batch_size / max(seconds, 1e-9)
        if not all(math.isfinite(v) for v in stats.values()):
            self.diverged_at = (self.step - steps, self.step)
            return "diverged"
        record = {
            Metric.EPOCH: round(self.step / self.steps_per_epoch, 4),
            Metric.STEP: self.step,
            Metric.IMAGES_SEEN: self.step * self.config.train.batch_size,
            **{k: round(v, 6) for k, v in stats.items()},
            Metric.IMAGES_PER_S: round(images_per_s, 1),
            Metric.TIME: round(self.elapsed, 3),
            Metric.TIMESTAMP: time.time(),
        }
        self.run.append_metrics(record)
        self.board.metrics(record)
        # None until a step has been timed after the warm-up: the app and the CLI say "estimating".
        eta = self.clock.eta_s(self.total_steps - self.step)
        status = self.run.write_status(
            state="running",
            epoch=record["epoch"],
            step=self.step,
            images_per_s=record["images_per_s"],
            eta_s=eta,
            elapsed_s=round(self.elapsed, 1),
            last=record,
        )
        if self.progress_fn:
            self.progress_fn(status)
        return "running"

    def _sample(self) -> None:
        if not self.writes:
            return
        G = self.keeper.sampling_G  # G's average when the run keeps one
        G.eval()  # running batch-norm statistics: each z's image does not depend on its neighbours
        with torch.no_grad():
            images = cpu_copy(G(self.fixed_z.to(self.device)).float())
        self.keeper.back_to_training(G)
        step, board = self.step, self.board
        self.writes_in_background.submit(lambda: self.keeper.save_grid(step, image_grid(images), board))

    def _checkpoint(self, wait: bool = False) -> None:
        if not self.writes:
            return
        state = checkpoint_state(
            config=self.config,
            G=self.G,
            D=self.D,
            opt_g=self.opt_g,
            opt_d=self.opt_d,
            step=self.step,
            fixed_z=self.fixed_z,
            rng=rng_state(self.device),
            elapsed_s=self.elapsed,
            extra=self.keeper.checkpoint_extra(),
        )

        # The event file is flushed once the checkpoint has landed: what TensorBoard shows up to its step (the
        # grids written before it included) is then on disk, and a resume from it hides only what came after.
        def write() -> None:
            atomic_save_torch(self.run.checkpoint_path, state)
            self.board.flush()

        self.writes_in_background.submit(write)
        if wait:
            self.writes_in_background.wait()

    def _finish(self, state: str) -> dict:
        run = self.run
        self.writes_in_background.wait()
        if state == "diverged":
            first, last = self.diverged_at
            saved = load_checkpoint(run.checkpoint_path)["step"] if run.checkpoint_path.exists() else 0
            message = (
                f"losses became NaN or infinite between steps {first} and {last}; the last good checkpoint "
                f"is at step {saved}: resume with a lower learning rate"
            )
            return run.write_status(state="diverged", message=message, error=message, pid=None, eta_s=None)
        self._log()
        if state == "running":
            state = "finished"
        if not run.samples() or run.samples()[-1][0] != self.step:
            self._sample()
        self.writes_in_background.submit(partial(self.keeper.send_last_grid, self.board))
        self._checkpoint(wait=True)
        if self.writes:
            export_generator(
                run.generator_path,
                self.keeper.sampling_G,
                step=self.step,
                dataset=self.config.data.dataset,
                extra={
                    "run": run.name,
                    "epochs": self.step / self.steps_per_epoch,
                    **drawing_version(self.config.data.dataset),
                },
            )
        run.clear_stop()
        message = "training finished" if state == "finished" else f"stopped at step {self.step}; resume to continue"
        return run.write_status(
            state=state,
            message=message,
            pid=None,
            eta_s=0 if state == "finished" else None,
            step=self.step,
            epoch=round(self.step / self.steps_per_epoch, 4),
            tensorboard=self.board.describe(),
        )
