"""The lab's kept results (dcgan/bnlab/store.py keeps every ended pair, table and sweep): a box to reopen one
in place of the last, and a table comparing them all side by side."""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from dcgan.bnlab import store
from dcgan.bnlab.seeds import test_spread

LAST = "the last one (training or trained)"


def _when(saved: store.Saved) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved.started))


def kept_picker(kind: str, key: str, label: Callable[[store.Saved], str]) -> store.Saved | None:
    """A box listing the kept results of `kind`, newest first; the one picked, or None for the last (the
    default). Below it, an expander comparing every kept one's test accuracies."""
    kept, notes = store.kept_results(kind)
    if not kept:
        return None
    names = {str(path): f"{_when(saved)} · {label(saved)} · {saved.state}" for path, saved in kept}
    picked = st.selectbox(
        "Show",
        [LAST, *names],
        format_func=lambda option: names.get(option, option),
        key=key,
        help=f"every {kind} that ended is kept (the newest {store.KEEP}) in {store.kept_folder()}; pick one to "
        "reopen it here",
    )
    with st.expander(f"Compare the {len(kept)} kept results", expanded=False):
        for note in notes:
            st.warning(note)
        st.dataframe(
            [_comparison_row(saved, label) for _, saved in kept],
            hide_index=True,
            key=f"{key}-compare",
            column_config={
                "without BN": st.column_config.NumberColumn(format="%.4f", help="test accuracy, mean of the seeds"),
                "with BN": st.column_config.NumberColumn(format="%.4f", help="test accuracy, mean of the seeds"),
            },
        )
        st.caption(
            "A table's or sweep's accuracies are the mean over all its rows or cells; reopen it above to see each."
        )
    return next((saved for path, saved in kept if str(path) == picked), None)


def _comparison_row(saved: store.Saved, label: Callable[[store.Saved], str]) -> dict:
    without = test_spread([a for a, _ in saved.results])
    with_bn = test_spread([b for _, b in saved.results])
    return {
        "started": _when(saved),
        "settings": label(saved),
        "state": saved.state,
        "without BN": without.mean if without else None,
        "with BN": with_bn.mean if with_bn else None,
        "data": saved.data,
        "took": f"{saved.elapsed_s:.1f} s",
    }
