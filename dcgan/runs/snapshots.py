"""Per-epoch snapshots (snapshots/epochNNNN.pt) and rolling a run back to one.

A snapshot holds G's and D's weights at an epoch's end in half precision, with the step, the training time
and the random-number state there: 1/6 of a checkpoint (no Adam moments, which are twice the weights, and
half the bytes per weight). Rolling back to epoch k turns snapshot k into the run's checkpoint.pt:

- D comes back from the same epoch as G. The collapsed run's D has won (that is what a collapse looks like),
  so pairing it with an earlier G gives G no gradient; a fresh D would forget everything it learnt.
- Both Adam states start afresh: their moments were built on the way to the collapse and would push the nets
  straight back along it (Adam's bias correction makes the first steps of a fresh state well scaled).
- G's average (EMA, when on) starts again from the snapshot's G.

The checkpoint is replaced in one atomic write, the commit point: what came after the snapshot (metrics,
scores, sample grids, later snapshots, a best_generator.pt from later) is discarded right after, and again by
the trainer when it resumes from that checkpoint, so a rollback killed at any moment leaves the run either as
it was or rolled back. Only the holder of the run's lock may roll it back.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.errors import CheckpointError, ConfigError, RunLocked
from dcgan.fileio import atomic_save_torch
from dcgan.runs.checkpoint import GENERATOR_FORMAT, SNAPSHOT_FORMAT, cpu_copy, is_a, load_tagged
from dcgan.runs.directory import RunDirectory

SNAPSHOTS = "snapshots"  # the folder in the run folder
SNAPSHOT_NAME = re.compile(r"epoch(\d{4,})\.pt$")
BEST_NAME = "best_generator.pt"


@dataclass(frozen=True)
class SnapshotKeeping:
    """How many snapshots a long run keeps. One per epoch without end filled the disk on small datasets (1,000
    images: thousands of epochs; a 64 px snapshot is 12.7 MB), so older ones are thinned: the newest `recent`
    epochs are all kept, and before them at most `older`, on the widest grid of epochs a power of two apart that
    leaves no more than that. Thinned after each epoch, the older snapshots end up on wider grids than the newer
    ones (after 5,000 epochs: every 256th to 3,840, then every 64th). The grids nest, so a snapshot dropped
    would never have been kept later."""

    recent: int = 10
    older: int = 30


def snapshots_to_drop(
    epochs: list[int], keeping: SnapshotKeeping | None = None, keep: Collection[int] = ()
) -> list[int]:
    """The epochs (of `epochs`, oldest first) whose snapshots the keeping rule drops; never those in `keep`
    (the best-scored epoch, which the rollback offers)."""
    keeping = keeping or SnapshotKeeping()
    older = epochs[: -keeping.recent] if keeping.recent else list(epochs)
    spacing = 1
    while sum(1 for e in older if e % spacing == 0) > keeping.older:
        spacing *= 2
    return [e for e in older if e % spacing and e not in keep]


def thin_snapshots(run: RunDirectory, keep: Collection[int] = (), keeping: SnapshotKeeping | None = None) -> None:
    for epoch in snapshots_to_drop(snapshot_epochs(run), keeping, keep):
        snapshot_path(run, epoch).unlink(missing_ok=True)


def snapshot_path(run: RunDirectory, epoch: int) -> Path:
    return run.path / SNAPSHOTS / f"epoch{epoch:04d}.pt"


def snapshot_epochs(run: RunDirectory) -> list[int]:
    """The epochs with a snapshot, oldest first."""
    folder = run.path / SNAPSHOTS
    if not folder.is_dir():
        return []
    found = (SNAPSHOT_NAME.fullmatch(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def _half(state: dict) -> dict:
    return {k: v.detach().half() if v.is_floating_point() else v.detach() for k, v in state.items()}


def snapshot_state(*, G, D, step: int, epoch: int, elapsed_s: float, rng: dict, lr: float) -> dict:
    """A snapshot, copied to the CPU (written in the background like a checkpoint); `lr`: the learning rate it
    trained with, from which the watchdog's rollback lowers."""
    return cpu_copy(
        {
            "format": SNAPSHOT_FORMAT,
            "epoch": epoch,
            "step": step,
            "elapsed_s": elapsed_s,
            "lr": lr,
            "generator": _half(G.state_dict()),
            "discriminator": _half(D.state_dict()),
            "rng": rng,
        }
    )


def load_snapshot(path: Path, checkpoint: dict) -> dict:
    """A snapshot, checked against the run's checkpoint: the same tensors (names, shapes), finite weights."""
    name = f"{path.parent.parent.name}/{SNAPSHOTS}/{path.name}"
    snap = load_tagged(path, SNAPSHOT_FORMAT, name)
    damaged = "the snapshot is damaged or belongs to another run; roll back to another epoch"
    if not (is_a(snap.get("step"), int) and is_a(snap.get("epoch"), int) and isinstance(snap.get("rng"), dict)):
        raise CheckpointError(f"{name} lacks its step, epoch or random-number state: {damaged}")
    for net in ("generator", "discriminator"):
        weights, expected = snap.get(net), checkpoint[net]
        if not isinstance(weights, dict) or weights.keys() != expected.keys():
            raise CheckpointError(f"{name} does not hold this run's {net}: {damaged}")
        for key, value in weights.items():
            if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
                raise CheckpointError(f"{name} holds {net} weight {key!r} in the wrong shape: {damaged}")
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise CheckpointError(f"{name} holds NaN or infinite values in {net} weight {key!r}: {damaged}")
    return snap


def snapshot_lr(run: RunDirectory, epoch: int) -> float | None:
    """The learning rate snapshot `epoch` was trained with, or None when it does not say (or is unreadable)."""
    try:
        lr = load_tagged(snapshot_path(run, epoch), SNAPSHOT_FORMAT, f"snapshot of epoch {epoch}").get("lr")
    except CheckpointError:
        return None
    return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0 else None


def describe_snapshots(epochs: list[int]) -> str:
    if not epochs:
        return "it has none yet (one is written at the first epoch's end)"
    return f"it has snapshots of epoch{'s' if len(epochs) > 1 else ''} {', '.join(map(str, epochs))}"


def forget_after(run: RunDirectory, step: int, steps_per_epoch: int) -> None:
    """Remove what training after `step` left besides metrics and grids (RunDirectory.discard_after does those):
    later snapshots, and a best_generator.pt scored after it."""
    for epoch in snapshot_epochs(run):
        if epoch * steps_per_epoch > step:
            snapshot_path(run, epoch).unlink(missing_ok=True)
    best = run.path / BEST_NAME
    if best.exists():
        try:
            best_step = load_tagged(best, GENERATOR_FORMAT, str(best)).get("step")
        except CheckpointError:
            best_step = None
        if not isinstance(best_step, int) or best_step > step:
            best.unlink(missing_ok=True)


def roll_back(run: RunDirectory, epoch: int, lr: float | None = None) -> dict:
    """Make snapshot `epoch` the run's checkpoint (see the module's words), with learning rate `lr` if given;
    returns the snapshot's {epoch, step}. The caller holds the run's lock and resumes the run after."""
    from dcgan.runs.manage import set_learning_rate
    from dcgan.train.resuming import checkpoint_to_resume

    if not run.lock.held:
        raise RunLocked(f"run {run.name} can be rolled back only by the process that holds it")
    checkpoint = checkpoint_to_resume(run, run.read_run_config())  # refusals (damaged, edited config) first
    epochs = snapshot_epochs(run)
    if checkpoint is None or epoch not in epochs:
        raise ConfigError(
            f"run {run.name} has no snapshot of epoch {epoch} to roll back to: {describe_snapshots(epochs)}"
        )
    if lr is not None and not (lr > 0 and lr < float("inf")):
        raise ConfigError(f"learning rate must be a positive number, not {lr}")
    snap = load_snapshot(snapshot_path(run, epoch), checkpoint)
    if snap["step"] > checkpoint["step"]:
        raise ConfigError(f"epoch {epoch} is after the run's checkpoint (step {checkpoint['step']}): resume instead")
    rolled = {k: v for k, v in checkpoint.items() if k != "generator_ema"}  # G's average restarts from G
    for net in ("generator", "discriminator"):
        rolled[net] = {k: v.to(checkpoint[net][k].dtype) for k, v in snap[net].items()}
    rolled.update(
        opt_generator={},  # fresh Adam states (trainer._restore leaves a new optimizer as it is)
        opt_discriminator={},
        step=snap["step"],
        elapsed_s=float(snap.get("elapsed_s") or 0.0),
        rng=snap["rng"],
        rolled_back_from=checkpoint["step"],
    )
    atomic_save_torch(run.checkpoint_path, rolled)  # the commit point
    if lr is not None:
        set_learning_rate(run, lr)
    forget_after(run, snap["step"], snap["step"] // max(epoch, 1))
    run.discard_after(snap["step"])
    lowered = f" with learning rate {lr:g}" if lr is not None else ""
    run.write_status(
        state="stopped",
        message=f"rolled back to epoch {epoch} (step {snap['step']:,}){lowered}; resume to continue from there",
        step=snap["step"],
        epoch=float(epoch),
        error=None,
        eta_s=None,
    )
    return {"epoch": epoch, "step": snap["step"]}


def roll_back_in_background(run: RunDirectory, epoch: int, lr: float | None = None) -> int:
    """Roll `run` back to epoch `epoch` and train on from there in a detached process (the app's button);
    returns its pid. RunLocked while another process trains the run: nothing is changed then."""
    from dcgan.runs.manage import launch

    run.acquire_lock()
    try:
        roll_back(run, epoch, lr)
    except BaseException:
        run.release_lock()
        raise
    return launch(run)  # keeps the lock held here and hands it to the trainer


def suggest_epoch(epochs: list[int], quality: list[dict], steps_per_epoch: int, before_step: int) -> int | None:
    """The snapshot to roll back to when trouble began after `before_step`: among the epochs snapshotted by then,
    the one with the best (lowest) quality score when some were scored, else the latest; None when none."""
    healthy = [e for e in epochs if e * steps_per_epoch <= before_step]
    if not healthy:
        return None
    scores = {r["step"]: r["frechet"] for r in quality if isinstance(r.get("frechet"), (int, float)) and r.get("step")}
    scored = [e for e in healthy if e * steps_per_epoch in scores]
    if scored:
        return min(scored, key=lambda e: (scores[e * steps_per_epoch], -e))
    return healthy[-1]
