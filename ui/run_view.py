"""The live view of one run: progress, loss charts, sample grids, watchdog, Stop and Resume.

While the run is active the view is a fragment that re-runs itself every REFRESH_S seconds, reading only
what is new in the run folder (dcgan.runs.live.MetricsFollower); the rest of the page is not re-run.
"""

from __future__ import annotations

import bisect

import streamlit as st

from dcgan.data.folder import describe_skipped_report
from dcgan.errors import CheckpointError, ConfigError, ResumeRefused, RunDamaged, RunLocked
from dcgan.progress import format_duration
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.live import MetricsFollower
from dcgan.runs.manage import effective_state, request_stop, resume, run_summary
from dcgan.train.watchdog import HEALTHY, diagnose, early_guidance
from ui.charts import training_figure
from ui.rollback_panel import rollback_after_stop, rollback_control, watchdog_rollback
from ui.run_quality import quality_section
from ui.timelapse import timelapse_panel

REFRESH_S = 1.0
STATE_LABELS = {
    "starting": "⏳ starting",
    "running": "🟢 running",
    "finished": "✅ finished",
    "stopped": "⏸️ stopped",
    "interrupted": "⚠️ interrupted (its process is gone: resume it)",
    "failed": "❌ failed",
    "diverged": "💥 diverged",
}


def run_view(run: RunDirectory) -> None:
    """Show `run`; live (self-refreshing) while it trains, static once it has ended."""
    active = effective_state(run) in ACTIVE_STATES
    st.session_state[f"active:{run.path}"] = active
    view = st.fragment(_run_panel, run_every=REFRESH_S if active else None, key=f"run-view:{run.path}")
    view(run)


def followed_metrics(run: RunDirectory) -> list[dict]:
    """The run's metrics so far, reading only the lines added since this session last looked."""
    follower = _follower(run)
    follower.update()
    return follower.records


def _follower(run: RunDirectory) -> MetricsFollower:
    key = f"follower:{run.path}"
    if key not in st.session_state or st.session_state[key].run.path != run.path:
        st.session_state[key] = MetricsFollower(run)
    return st.session_state[key]


def _run_panel(run: RunDirectory) -> None:
    if not run.path.is_dir():
        st.info(f"Run {run.name} no longer exists.")
        return
    follower = _follower(run)
    follower.update()
    summary = run_summary(run)  # reads status.json and config.json once, saying what is damaged in them
    status, state, config = summary["status"], summary["state"], summary["settings"]
    active = state in ACTIVE_STATES
    if st.session_state.get(f"active:{run.path}") and not active:
        st.session_state[f"active:{run.path}"] = False
        _after_run_ended(run)
        st.rerun(scope="app")  # re-draw the page without the timer once the run has ended

    _header(run, status, state, config)
    if summary["problem"]:
        after = (
            "Resume rewrites it."
            if summary["resumable"]
            else "It cannot be resumed until that is repaired; delete it from the table of all runs if it is of no use."
        )
        st.error(f"This run is damaged: {summary['problem']}. What could be read is shown below. {after}")
    if follower.skipped:
        lines = f"{follower.skipped} damaged line{'s' if follower.skipped > 1 else ''}"
        st.warning(
            f"{lines} of metrics.jsonl could not be read and {'is' if follower.skipped == 1 else 'are'} "
            "left out of the charts (a resume drops them)."
        )
    _progress(status, state, config)
    _watchdog(run, follower.records, status, config)
    rollback_control(run, state, config, status)
    chart_col, sample_col = st.columns([3, 2])
    with chart_col:
        if follower.records:
            st.plotly_chart(
                _figure(run, follower, status.get("steps_per_epoch")),
                key=f"chart:{run.path}",
                config={"displaylogo": False},
            )
            st.caption(HEALTHY)
        else:
            st.info("The loss chart appears with the first metrics line (after a few steps).")
    with sample_col:
        _samples(run, status)
    quality_section(run, status, active)


def _figure(run: RunDirectory, follower: MetricsFollower, steps_per_epoch: int | None):
    """The chart, rebuilt only when new metrics arrived: most refreshes bring none (a CPU run logs every few
    seconds), and building the figure is most of a refresh's cost."""
    key, version = f"figure:{run.path}", (follower.offset, follower.inode, steps_per_epoch)
    cached = st.session_state.get(key)
    if cached is None or cached[0] != version:
        cached = st.session_state[key] = (version, training_figure(follower.records, steps_per_epoch))
    return cached[1]


def _header(run: RunDirectory, status: dict, state: str, config: dict) -> None:
    left, stop_col, resume_col = st.columns([4, 1, 1])
    data = config.get("data", {})
    dataset = f"{data['dataset']}{' (' + data['folder'] + ')' if data.get('folder') else ''}" if data else None
    device = config.get("device_used") or status.get("device")
    left.markdown(
        " · ".join(str(part) for part in (f"**{run.name}**", STATE_LABELS.get(state, state), dataset, device) if part)
    )
    if state in ACTIVE_STATES:
        stopping = run.stop_requested()
        if stop_col.button(
            "Stopping…" if stopping else "Stop",
            key=f"stop:{run.path}",
            disabled=stopping,
            help="Stops after the current step and saves a checkpoint; Resume continues from it.",
        ):
            request_stop(run)
            st.rerun(scope="fragment")
    elif state != "finished":
        if resume_col.button(
            "Resume",
            key=f"resume:{run.path}",
            type="primary",
            help="Continue from the last checkpoint, in the background.",
        ):
            _resume(run)
        _offer_restart(run)
    if state in ("failed", "diverged", "interrupted") or (state == "stopped" and status.get("message")):
        reason = status.get("error") or status.get("message") or "the trainer's process ended without saying why"
        (st.info if state == "stopped" else st.error)(f"{state.capitalize()}: {reason}")
        if state == "failed" and run.log_path.exists():
            with st.expander("The trainer's log (last lines)"):
                st.code("\n".join(run.log_path.read_text(errors="replace").splitlines()[-30:]) or "(empty)")


def _progress(status: dict, state: str, config: dict) -> None:
    _skipped_files(status)
    total = status.get("total_steps")
    step = status.get("step") or 0
    epochs = config.get("train", {}).get("epochs")
    if not total:
        if state in ACTIVE_STATES and status.get("preparing"):
            return  # the scoring classifier is training: _quality shows its own progress bar
        starting = str(status.get("message") or "loading the data and building the networks").capitalize()
        st.progress(0.0, text=f"{starting}…" if state in ACTIVE_STATES else "No steps yet")
        return
    fraction = min(step / total, 1.0)
    speed = f" · {status['images_per_s']:,.0f} img/s" if status.get("images_per_s") else ""
    if state == "finished":
        took = format_duration(status.get("elapsed_s"))
        text = f"Finished: {epochs} epoch{'s' if epochs != 1 else ''}, {step:,} steps in {took}{speed}"
    else:
        eta = f" · ETA {_eta(status, state)}" if state in ACTIVE_STATES else ""
        of_epochs = f" / {epochs}" if epochs else ""
        text = f"Epoch {status.get('epoch', 0):.2f}{of_epochs} · step {step:,} / {total:,}{speed}{eta}"
    st.progress(fraction, text=text)


def _eta(status: dict, state: str) -> str:
    """The trainer's estimate, or "estimating…" until it has timed steps after its warm-up (status.json's eta_s is
    None until then, on a new run and again after each resume: the start-up is not training speed)."""
    eta_s = status.get("eta_s")
    if state != "running" or not isinstance(eta_s, (int, float)):
        return "estimating…"
    return format_duration(eta_s)


def _skipped_files(status: dict) -> None:
    """The folder files the run left out (status.json's skipped_files), named with why."""
    said = describe_skipped_report(status.get("skipped_files"))
    if said:
        st.caption(
            f"⚠️ {said}. The run trains on the other {status.get('images') or 0:,} images; re-save or "
            "delete those files to use or silence them."
        )


def _samples(run: RunDirectory, status: dict) -> None:
    samples = run.samples()
    if not samples:
        st.info(
            "The first sample grid appears after about 30 s of training or at the first epoch's end, then at epoch "
            "ends (when epochs last under 2 s, about every 2 s)."
        )
        return
    index = _sample_slider(run, [step for step, _ in samples])
    step, path = samples[index - 1]
    try:
        png = path.read_bytes()
    except FileNotFoundError:  # thinned away by the trainer since it was listed (runs/sample_grids.py)
        step, path = samples[-1]
        png = path.read_bytes() if path.exists() else b""
    per_epoch = status.get("steps_per_epoch")
    epoch = f" · epoch {step / per_epoch:.2f}" if per_epoch else ""
    if not png:
        return
    st.image(
        png,
        caption=f"Fixed latent batch at step {step:,}{epoch} ({index} of {len(samples)})",
        width="stretch",
        output_format="PNG",
    )
    timelapse_panel(run, samples)  # ▶ Play the grids as an animation; GIF and MP4 downloads
    if run.reals_path.exists():
        with st.expander("Real training images, for comparison"):
            st.image(str(run.reals_path), width="stretch", output_format="PNG")


def _sample_slider(run: RunDirectory, steps: list[int]) -> int:
    """The grid shown (1-based, of the grids at `steps`): the newest, and each new one as it arrives, until the
    person moves the slider back; then the grid they chose stays, however many arrive, until they move it to the
    end again. A long run thins its older grids (runs/sample_grids.py): the choice is kept as a step, and a
    thinned one gives way to the nearest grid before it.

    The slider's range grows with each grid, and Streamlit makes a widget whose range changed a new widget that
    forgets its value (back to the first grid, for good): so the chosen grid is kept here and handed to each
    new slider through its key's session state."""
    key, shown_key = f"sample:{run.path}", f"sample-steps:{run.path}"
    shown = st.session_state.get(shown_key) or steps  # the grids the slider showed last time, its value's meaning
    value = st.session_state.get(key)
    chosen = shown[value - 1] if isinstance(value, int) and 1 <= value <= len(shown) else None
    following = chosen is None or chosen == shown[-1]
    st.session_state[key] = len(steps) if following else max(1, bisect.bisect_right(steps, chosen))
    st.session_state[shown_key] = steps
    if len(steps) == 1:
        return 1
    return st.slider(
        "Sample grid",
        1,
        len(steps),
        key=key,
        help="Every grid the run saved, from the same fixed latent batch: watch the samples form. At the right "
        "end it follows the newest grid; moved back, it stays on the grid you chose.",
    )


def _watchdog(run: RunDirectory, records: list[dict], status: dict, config: dict) -> None:
    lr = config.get("train", {}).get("lr", 2e-4)
    findings = diagnose(records, status, lr)
    early = None if findings else early_guidance(records, status)
    if early:  # hedged: before the evidence for a verdict is in, what the curves say so far
        st.info(f"**Watchdog: {early.message}** {early.advice}")
    for finding in findings:
        st.warning(f"**{finding.message}** {finding.advice}")
        if finding.suggested_lr and st.button(
            f"Resume from the last checkpoint with learning rate {finding.suggested_lr:g}",
            key=f"lower-lr:{run.path}:{finding.kind}",
        ):
            st.session_state[f"pending-lr:{run.path}"] = finding.suggested_lr
            if effective_state(run) in ACTIVE_STATES:
                request_stop(run)  # the resume happens once the trainer has saved and stopped
                st.rerun(scope="fragment")
            _after_run_ended(run)
        watchdog_rollback(run, finding, records, status)


def _after_run_ended(run: RunDirectory) -> None:
    """Carry out a 'resume with a lower learning rate' that waited for the run to stop."""
    lr = st.session_state.pop(f"pending-lr:{run.path}", None)
    if lr is not None:
        _resume(run, lr)
    rollback_after_stop(run)


def _offer_restart(run: RunDirectory) -> None:
    """After a refused resume (its checkpoint is gone, or config.json no longer matches it): say why, and
    offer to start again from step 0, which discards what the run trained, so only on a second click."""
    refusal = st.session_state.get(f"refused:{run.path}")
    if not refusal:
        return
    st.error(f"Could not resume {run.name}: {refusal}")
    if st.button("Restart from step 0 (discards its checkpoint, metrics and sample grids)", key=f"restart:{run.path}"):
        _resume(run, restart=True)


def _resume(run: RunDirectory, lr: float | None = None, restart: bool = False) -> None:
    try:
        resume(run, lr, restart)  # the new learning rate is written only once this resume holds the run
    except ResumeRefused as err:
        st.session_state[f"refused:{run.path}"] = str(err)  # offered a deliberate restart below
        return
    except (RunLocked, FileNotFoundError, ConfigError, RunDamaged, CheckpointError, OSError) as err:
        st.error(f"Could not resume {run.name}: {err}")
        return
    st.session_state.pop(f"refused:{run.path}", None)
    st.session_state.pop(f"sample:{run.path}", None)
    st.rerun(scope="app")  # the view becomes live again
