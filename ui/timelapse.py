"""The Train page's timelapse of one run: ▶ Play shows the run's sample grids as an animated GIF (the browser
animates it: no server work per frame, so a run training beside it loses nothing), each frame labelled with its
epoch and step; GIF and MP4 downloads of the same frames. Engine: dcgan/runs/timelapse.py.

The animation is made when asked for, from the grids saved by then, and kept: a live run's new grids do not
rebuild it every refresh (the page says how many arrived since, and ▶ Play again takes them in).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import streamlit as st

from dcgan.runs.directory import RunDirectory
from dcgan.runs.timelapse import MP4_PACKAGE_HINT, TimelapseConfig, TimelapseUnavailable, timelapse_bytes

MIME = {"gif": "image/gif", "mp4": "video/mp4"}


def grids_signature(samples: list[tuple[int, Path]]) -> tuple:
    """What identifies the grids a timelapse is made of: their steps, and the newest one's modification time (a
    restart from step 0 writes new grids under old names)."""
    if not samples:
        return ()
    try:
        newest = samples[-1][1].stat().st_mtime_ns
    except OSError:
        newest = 0
    return (tuple(step for step, _ in samples), newest)


@lru_cache(maxsize=8)
def encoded(run_path: str, signature: tuple, fmt: str) -> tuple[bytes, int, tuple[str, ...]]:
    """(the timelapse's bytes, its frame count, notes on grids left out) of the grids `signature` names (not
    those saved since), cached per set of grids."""
    data, timelapse = timelapse_bytes(RunDirectory(run_path), fmt, only_steps=signature[0] if signature else None)
    return data, len(timelapse.frames), tuple(timelapse.notes)


def mp4_available() -> bool:
    return importlib.util.find_spec("av") is not None


def download_buttons(
    key: str, file_stem: str, make, disabled: bool = False, columns=None, help_text: str | None = None
) -> None:
    """GIF and MP4 download buttons whose files are made only when clicked (`make(fmt)` -> bytes), on
    Streamlit's download thread, so drawing the page costs nothing; MP4 says what to install when PyAV is missing."""
    gif_col, mp4_col = columns or st.columns(2)
    gif_col.download_button(
        "⬇ GIF",
        data=lambda: make("gif"),
        file_name=f"{file_stem}.gif",
        mime=MIME["gif"],
        key=f"{key}-gif",
        on_click="ignore",
        disabled=disabled,
        help=help_text or "An animated GIF, looping, epoch and step on each frame.",
    )
    has_mp4 = mp4_available()
    mp4_col.download_button(
        "⬇ MP4",
        data=lambda: make("mp4"),
        file_name=f"{file_stem}.mp4",
        mime=MIME["mp4"],
        key=f"{key}-mp4",
        on_click="ignore",
        disabled=disabled or not has_mp4,
        help=(help_text or "An H.264 video of the same frames.") if has_mp4 else MP4_PACKAGE_HINT + ".",
    )


def timelapse_panel(run: RunDirectory, samples: list[tuple[int, Path]]) -> None:
    """▶ Play / ■ Stop, the animation while playing, and the downloads, for a run with at least two grids."""
    if len(samples) < 2:
        return
    playing_key = f"timelapse:{run.path}"
    signature = grids_signature(samples)
    play_col, gif_col, mp4_col = st.columns([2, 1, 1])
    playing = st.session_state.get(playing_key) is not None

    def toggle() -> None:  # a callback: the button's label is right in the same rerun
        st.session_state[playing_key] = None if playing else signature

    play_col.button(
        "■ Stop timelapse" if playing else "▶ Play timelapse",
        key=f"timelapse-play:{run.path}",
        on_click=toggle,
        help=None if playing else "Every saved grid in turn, epoch and step written on each: watch the samples form.",
    )
    played = st.session_state.get(playing_key)
    download_buttons(
        f"timelapse-download:{run.path}",
        f"{run.name}-timelapse",
        lambda fmt: encoded(str(run.path), signature, fmt)[0],
        columns=(gif_col, mp4_col),
    )
    if played is None:
        return
    try:
        data, count, notes = encoded(str(run.path), played, "gif")
    except TimelapseUnavailable as err:
        st.warning(str(err))
        return
    st.image(data, width="stretch", output_format="GIF")
    newer = len(signature[0]) - len(played[0]) if signature and played[0] != signature[0] else 0
    cfg = TimelapseConfig()
    since = f" {newer} newer grid{'s' if newer != 1 else ''} since: ▶ Play again to include them." if newer > 0 else ""
    st.caption(
        f"Timelapse of {count} grids, {1000 / cfg.frame_ms:g} a second, the last held {cfg.hold_last_ms / 1000:g} s."
        + since
        + "".join(f" ⚠️ {note}." for note in notes)
    )
