"""The run comparison's sample grids: the chosen runs side by side under one slider and one ▶ Play button, lined
up by images seen (steps × batch size), so a batch-64 run at step 80 is shown beside a batch-128 run at step 40.
Engine: dcgan/runs/timelapse.py (align_by_images, aligned_images)."""

from __future__ import annotations

from functools import lru_cache

import streamlit as st

from dcgan.paths import runs_root
from dcgan.runs.directory import RunDirectory
from dcgan.runs.timelapse import (
    Timelapse,
    TimelapseUnavailable,
    align_by_images,
    aligned_images,
    encode,
    run_timelapse,
)
from ui.timelapse import download_buttons, grids_signature

MOMENT_KEY = "compare-moment"
PLAYING_KEY = "compare-playing"


@lru_cache(maxsize=16)
def _timelapse(run_path: str, signature: tuple) -> Timelapse:
    """A run's readable grids with their epochs and images seen; cached per set of grids (checking each PNG is
    a decode, and the table refreshes every few seconds while a run trains)."""
    return run_timelapse(RunDirectory(run_path), only_steps=signature[0] if signature else ())


@lru_cache(maxsize=4)
def _side_by_side(paths: tuple[str, ...], signatures: tuple, fmt: str) -> bytes:
    timelapses = [_timelapse(p, s) for p, s in zip(paths, signatures)]
    return encode(aligned_images(timelapses, align_by_images(timelapses)), fmt)


def compare_samples(names: list[str]) -> None:
    """The chosen runs' grids at one moment (the slider, in images seen), and ▶ Play for all of them at once."""
    runs = [RunDirectory(runs_root() / name) for name in names]
    paths = tuple(str(run.path) for run in runs)
    signatures = tuple(grids_signature(run.samples()) for run in runs)
    timelapses = [_timelapse(p, s) for p, s in zip(paths, signatures)]
    st.markdown("**Samples side by side**, lined up by images seen (steps × batch size)")
    if len(runs) < 2:
        st.caption("Choose two or more runs to see their sample grids side by side.")
        return
    empty = [t.run_name for t in timelapses if not t.frames]
    if len(empty) == len(timelapses):
        st.info("None of the chosen runs has a sample grid yet.")
        return
    try:
        alignment = align_by_images(timelapses)
    except TimelapseUnavailable as err:
        st.warning(f"Cannot show the grids side by side: {err}.")
        return
    moments = alignment.images_seen
    if st.session_state.get(MOMENT_KEY) not in moments:  # first drawn, or the runs or their grids changed
        st.session_state[MOMENT_KEY] = moments[-1]
    play_col, gif_col, mp4_col = st.columns([2, 1, 1])
    played = st.session_state.get(PLAYING_KEY)
    playing = played is not None and played[0] == paths  # the same runs; their grids may have grown since

    def toggle() -> None:  # a callback: the button's label is right in the same rerun
        st.session_state[PLAYING_KEY] = None if playing else (paths, signatures)

    play_col.button("■ Stop" if playing else "▶ Play side by side", key="compare-play", on_click=toggle)
    played = st.session_state.get(PLAYING_KEY)
    download_buttons(
        "compare-download",
        "runs-side-by-side",
        lambda fmt: _side_by_side(paths, signatures, fmt),
        columns=(gif_col, mp4_col),
        help_text="The runs side by side, one frame per moment, lined up by images seen.",
    )
    if played is not None and played[0] == paths:  # the grids there were when Play was pressed: not rebuilt as
        # a training run saves more, which would restart the animation every few seconds
        shown = [_timelapse(p, s) for p, s in zip(*played)]
        shown_moments = align_by_images(shown).images_seen
        st.image(_side_by_side(*played, "gif"), width="content", output_format="GIF")  # crisp: its own pixels
        newer = " Newer grids have been saved since: ▶ Play again to include them." if played[1] != signatures else ""
        st.caption(
            f"{len(shown_moments)} moments, from {shown_moments[0]:,} to {shown_moments[-1]:,} images seen.{newer}"
        )
        return
    moment = (
        st.select_slider(
            "Images seen",
            moments,
            key=MOMENT_KEY,
            format_func=lambda m: f"{m:,}",
            help="One moment for every run: each shows its newest grid made by then. Images seen = steps × batch "
            "size, so runs with different batch sizes or datasets are compared at the same amount of training.",
        )
        if len(moments) > 1
        else moments[0]
    )
    k = moments.index(moment)
    for column, t in zip(st.columns(len(timelapses)), timelapses):
        index = alignment.shown[t.run_name][k]
        if index is None:
            first = f" (its first at {t.frames[0].images_seen:,})" if t.frames else ""
            column.info(f"**{t.run_name}**: no grid yet at {moment:,} images{first}.")
            continue
        frame = t.frames[index]
        ended = " · its last grid" if index == len(t.frames) - 1 and (frame.images_seen or 0) < moment else ""
        caption = f"{t.run_name} · {frame.label()}{ended}"
        column.image(frame.png, caption=caption, width="stretch", output_format="PNG")
    notes = [f"{t.run_name}: {note}" for t in timelapses for note in t.notes]
    if notes:
        st.caption(" ".join(f"⚠️ {n}." for n in notes))
