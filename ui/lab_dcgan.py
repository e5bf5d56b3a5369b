"""DCGAN with and without batch norm: two background runs, same data, seed and settings, side by side.

The pair's two run names are kept on disk (dcgan/bnlab/store.py) until the person starts another pair."""

from __future__ import annotations

import time

import streamlit as st

from dcgan.bnlab import store
from dcgan.data.presets import preset_config
from dcgan.errors import ConfigError, DatasetUnavailable, RunDamaged, RunLocked
from dcgan.paths import runs_root
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.manage import effective_state, start_run
from ui.charts import comparison_figure, quality_comparison_figure
from ui.run_view import followed_metrics, run_view

REFRESH_S = 2.0


def dcgan_comparison_tab() -> None:
    st.markdown(
        "Two DCGAN runs on street-digits through the same background runner, identical but for batch norm "
        "(in G and D). The paper found training without it collapsed or failed to start."
    )
    c1, c2, c3, _ = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 100, 3, key="bn-dcgan-epochs")
    limit = c2.number_input("Images (0 = all 50,000)", 0, 50_000, 12_800, 1_280, key="bn-dcgan-limit")
    seed = c3.number_input("Seed", 0, 10_000, 0, key="bn-dcgan-seed")
    if st.button("Start both runs", type="primary", key="bn-dcgan-start"):
        _start_pair(int(epochs), int(limit), int(seed))
    names = _pair_names()
    if not names:
        return
    runs = [RunDirectory(runs_root() / name) for name in names]
    gone = [run.name for run in runs if not run.exists()]
    if gone:
        st.warning(f"{' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} no longer among the runs (deleted?).")
        runs = [run for run in runs if run.exists()]
        if not runs:
            return
    st.fragment(_side_by_side, run_every=REFRESH_S if _training(runs) else None, key="bn-dcgan-live")(runs)
    for tab, run in zip(st.tabs([f"{run.name} (full view)" for run in runs]), runs):
        with tab:
            run_view(run)


def _pair_names() -> list[str]:
    """The pair this session started, else the last one saved (a reload, a page switch, another tab)."""
    names = st.session_state.get("bn-dcgan-runs")
    if names:
        return names
    names, note = store.load_dcgan_pair()
    if note:
        st.warning(note)
    return names


def _training(runs: list[RunDirectory]) -> bool:
    return any(effective_state(run) in ACTIVE_STATES for run in runs if run.exists())


def _start_pair(epochs: int, limit: int, seed: int) -> None:
    """Two background runs: processes that outlive the tab (they are runs like any other, on the Train page
    with their Stop), each bounded by the form's at most 100 epochs of 50,000 images. A second pair while
    this tab's first still trains would only pile more processes onto the same cores."""
    earlier = st.session_state.get("bn-dcgan-runs") or store.load_dcgan_pair()[0]
    if _training([RunDirectory(runs_root() / name) for name in earlier]):
        st.error(
            f"{' and '.join(earlier)} are still training: stop them in their full views below (or on the "
            f"Train page), or wait for them to finish, then start two more."
        )
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        names = []
        for batchnorm in (True, False):
            config = preset_config(
                "street-digits",
                name=f"bn-{'on' if batchnorm else 'off'}-{stamp}",
                epochs=epochs,
                limit=limit,
                seed=seed,
                g_batchnorm=batchnorm,
                d_batchnorm=batchnorm,
            )
            names.append(start_run(config).name)
        st.session_state["bn-dcgan-runs"] = names
        store.save_dcgan_pair(names)
    except (ConfigError, DatasetUnavailable, RunLocked, OSError) as err:
        st.error(f"Could not start: {err}")


def _side_by_side(runs: list[RunDirectory]) -> None:
    curves = {run.name: followed_metrics(run) for run in runs if run.exists()}
    if any(curves.values()):
        st.plotly_chart(comparison_figure({k: v for k, v in curves.items() if v}), key="bn-dcgan-chart")
    for col, run in zip(st.columns(2), runs):
        with col:
            status = run.read_status() or {}
            st.markdown(f"**{run.name}** · {effective_state(run, status)} · epoch {status.get('epoch', 0):.2f}")
            _frechet(run)
            samples = run.samples()
            if samples:
                st.image(str(samples[-1][1]), output_format="PNG", caption=f"step {samples[-1][0]:,}")
    scores = {run.name: run.read_quality() for run in runs}
    if sum(len(s) for s in scores.values()) > 1:
        st.plotly_chart(quality_comparison_figure({k: v for k, v in scores.items() if v}), key="bn-dcgan-quality")


def _frechet(run: RunDirectory) -> None:
    """The run's newest Fréchet distance (quality.jsonl), or why there is none yet."""
    scores = [s for s in run.read_quality() if s.get("frechet") is not None]
    if scores:
        newest = scores[-1]
        st.metric(
            f"Fréchet distance, {run.name}",
            f"{newest['frechet']:.2f}",
            help="between real and generated digits in the scoring classifier's features; lower is better",
        )
        caveat = "" if newest.get("reliable") is not False else "; unreliable: the scoring classifier is weak here"
        st.caption(f"at epoch {newest['epoch']:g} (step {newest['step']:,}); {len(scores)} score(s) so far{caveat}")
        return
    try:
        off = run.read_run_config().train.score_samples == 0
    except (RunDamaged, OSError, ValueError):  # a damaged config: its full view below says what is wrong
        off = False
    st.metric(f"Fréchet distance, {run.name}", "—")
    st.caption("scoring is off for this run" if off else "no score yet: the first comes at the end of epoch 1")
