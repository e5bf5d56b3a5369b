"""Keeps every page inside the app shell (streamlit_app.py's st.navigation)."""

from __future__ import annotations

import streamlit as st

SHELL_KEY = "app-shell"


def mark_shell() -> None:
    """Called by streamlit_app.py before it runs a page."""
    st.session_state[SHELL_KEY] = True


def require_shell() -> None:
    """Hand a page that Streamlit ran on its own back to the app shell.

    Streamlit still has its older multipage mode for apps with a `pages/` folder: when a fresh server's
    first request is a page's address (say /train), it runs pages/train.py by itself, without our
    navigation or page config. Turning that mode off and re-running sends the request through
    streamlit_app.py, whose st.navigation maps /train to the same page (pages are keyed by URL path).
    """
    if st.session_state.get(SHELL_KEY):
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False  # what st.navigation itself sets on its first call
    st.rerun()
