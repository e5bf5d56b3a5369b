"""Rolling a run back to an epoch's snapshot from the run view: the watchdog's "roll back to epoch k, lower the
learning rate" after a collapse or divergence, and a general "roll back to an epoch" for a run that has ended.
What a rollback restores and what starts afresh: dcgan/runs/snapshots.py."""

from __future__ import annotations

import streamlit as st

from dcgan.config import TrainConfig
from dcgan.errors import CheckpointError, ConfigError, ResumeRefused, RunDamaged, RunLocked
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.manage import effective_state, request_stop
from dcgan.runs.records import Metric
from dcgan.runs.snapshots import roll_back_in_background, snapshot_epochs, snapshot_lr, snapshot_path, suggest_epoch
from dcgan.train.watchdog import WatchdogConfig, lower_lr

WHAT_IT_DOES = (
    "G and D come back from that epoch's snapshot; both Adam states start afresh (their moments were built on "
    "the way to the trouble); G's average (EMA), if on, restarts from G. Metrics, scores and sample grids after "
    "that epoch are discarded, and training continues from there in the background."
)


def watchdog_rollback(run: RunDirectory, finding, records: list[dict], status: dict) -> None:
    """Under a watchdog finding: a button rolling back to the snapshot before the trouble (its best-scored, else
    its latest) with a lower learning rate: the finding's, or lower still when the snapshot trained with less (a
    run made to diverge by raising its rate is rolled back below the rate that was healthy). A running run is
    stopped first."""
    per_epoch = status.get("steps_per_epoch")
    if not finding.suggested_lr or not isinstance(per_epoch, int) or per_epoch <= 0:
        return
    if finding.kind == "diverged":
        trouble_from = status.get("step") or 0  # the last step logged before the NaN
    else:  # the watchdog's window: all of it pointed the same way
        last = records[-1].get(Metric.STEP, 0) if records else 0
        trouble_from = last - WatchdogConfig().window_steps
    epoch = suggest_epoch(snapshot_epochs(run), run.read_quality(), per_epoch, trouble_from)
    if epoch is None:
        return
    path = snapshot_path(run, epoch)
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:  # thinned away (runs/snapshots.py) since it was listed
        return
    healthy_lr = _snapshot_lr(str(run.path), epoch, modified)
    lr = min(finding.suggested_lr, lower_lr(healthy_lr) if healthy_lr else finding.suggested_lr)
    if st.button(
        f"Roll back to epoch {epoch} with learning rate {lr:g}",
        key=f"rollback-advice:{run.path}:{finding.kind}",
        help=WHAT_IT_DOES,
    ):
        _roll_back_when_stopped(run, epoch, lr)


@st.cache_data(show_spinner=False, max_entries=64)
def _snapshot_lr(run_path: str, epoch: int, modified: float) -> float | None:
    """The snapshot's learning rate, read once per file (a 64 px snapshot is 12.7 MB; the view refreshes each second
    while the run trains). `modified` is there to read it again when the file is rewritten."""
    return snapshot_lr(RunDirectory(run_path), epoch)


def rollback_control(run: RunDirectory, state: str, config: dict, status: dict) -> None:
    """The quality score's collapse verdict with a rollback to before it; then 'Roll back to an epoch' for a run
    that is not training: pick the epoch and the learning rate."""
    epochs = snapshot_epochs(run)
    if not epochs:
        return
    _collapse_rollback(run, epochs, config, status)
    if state in ACTIVE_STATES:
        return
    with st.expander("Roll back to an epoch"):
        st.caption(WHAT_IT_DOES)
        left, right = st.columns(2)
        epoch = left.selectbox("Epoch", epochs[::-1], key=f"rollback-epoch:{run.path}")
        lr = right.number_input(
            "Learning rate from there",
            value=float(config.get("train", {}).get("lr", TrainConfig.lr)),
            format="%g",
            step=1e-5,
            key=f"rollback-lr:{run.path}",
        )
        if st.button(f"Roll back to epoch {epoch} and train on", key=f"rollback:{run.path}", type="primary"):
            _roll_back(run, epoch, lr)


def _collapse_rollback(run: RunDirectory, epochs: list[int], config: dict, status: dict) -> None:
    """When the newest quality scores say one class makes most samples (mode collapse, quality/score.py's
    `collapsed`), offer to roll back to the best-scored snapshot before the collapse began, at half the rate
    (watchdog.lower_lr)."""
    per_epoch = status.get("steps_per_epoch")
    records = run.read_quality()
    if not records or records[-1].get("collapsed") is not True or not isinstance(per_epoch, int) or per_epoch <= 0:
        return
    began = len(records) - 1
    while began > 0 and records[began - 1].get("collapsed") is True:
        began -= 1
    epoch = suggest_epoch(epochs, records[:began], per_epoch, records[began]["step"] - 1)
    if epoch is None:
        return  # collapsed from its first score: no snapshot before it
    lr = lower_lr(float(config.get("train", {}).get("lr", TrainConfig.lr)))
    st.warning(
        f"**The samples have collapsed onto one class since step {records[began]['step']:,}** (the quality score's "
        "class histogram): rolling back to before it with a lower learning rate often gets out of it."
    )
    if st.button(
        f"Roll back to epoch {epoch} with learning rate {lr:g}", key=f"rollback-collapse:{run.path}", help=WHAT_IT_DOES
    ):
        _roll_back_when_stopped(run, epoch, lr)


def _roll_back_when_stopped(run: RunDirectory, epoch: int, lr: float) -> None:
    if effective_state(run) in ACTIVE_STATES:
        st.session_state[f"pending-rollback:{run.path}"] = (epoch, lr)
        request_stop(run)  # rolled back once the trainer has saved and stopped (rollback_after_stop)
        st.rerun(scope="fragment")
    _roll_back(run, epoch, lr)


def rollback_after_stop(run: RunDirectory) -> None:
    """Carry out a rollback that waited for the run to stop."""
    pending = st.session_state.pop(f"pending-rollback:{run.path}", None)
    if pending is None:
        return
    epoch, lr = pending
    epochs = snapshot_epochs(run)
    earlier = [e for e in epochs if e <= epoch]
    if epoch not in epochs and earlier:  # thinned away while the run trained on to its stop: the nearest before
        epoch = earlier[-1]  # (the run's status then says which epoch it was rolled back to)
    _roll_back(run, epoch, lr)


def _roll_back(run: RunDirectory, epoch: int, lr: float | None) -> None:
    try:
        roll_back_in_background(run, epoch, lr)
    except (RunLocked, ConfigError, CheckpointError, ResumeRefused, RunDamaged, FileNotFoundError, OSError) as err:
        st.error(f"Could not roll {run.name} back: {err}")
        return
    st.session_state.pop(f"sample:{run.path}", None)  # the sample slider follows the newest grid again
    st.rerun(scope="app")  # the view becomes live again
