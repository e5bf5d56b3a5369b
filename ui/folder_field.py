"""The Train page's image-folder field: limited to allowed roots when the server is reachable from other machines.

A server bound to localhost (the default, .streamlit/config.toml) is used by the person at this machine,
who can read its folders anyway: the field takes any folder there. Any other server.address (0.0.0.0, "",
a LAN address, a unix socket behind a proxy) lets others type paths, so only folders under
DCGAN_FOLDER_ROOTS are read (dcgan/data/folder_access.py). Setting DCGAN_FOLDER_ROOTS applies the limit on a
localhost server too, for one put behind a reverse proxy, which cannot be told from here.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import streamlit as st

from dcgan.data.folder_access import FOLDER_ROOTS_ENV, allowed_folder, folder_roots, how_to_add_root
from dcgan.errors import FolderNotAllowed

LOOPBACK_NAMES = {"localhost"}


def is_loopback(address: str | None) -> bool:
    """Whether a server.address listens on this machine only (localhost, 127.x.x.x, ::1). Unset or "" means
    every interface; 0.0.0.0, a LAN address, a host name or a unix socket all count as reachable."""
    host = (address or "").strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # empty, a host name, unix://...
        return False


def network_exposed() -> bool:
    """Whether people on other machines may reach this server (see is_loopback)."""
    return not is_loopback(st.get_option("server.address"))


def folder_limits_apply() -> bool:
    """Whether the field keeps to DCGAN_FOLDER_ROOTS: on a reachable server, or wherever the operator set it."""
    return network_exposed() or bool(os.environ.get(FOLDER_ROOTS_ENV, "").strip())


def _roots_note(roots: list[Path]) -> str:
    why = (
        "This server is reachable from other machines, so it reads"
        if network_exposed()
        else f"{FOLDER_ROOTS_ENV} is set, so this server reads"
    )
    if not roots:
        return (
            f"{why} image folders only inside folders its operator allows, and {FOLDER_ROOTS_ENV} names "
            f"none: every folder is refused. To allow some, restart the server with `{how_to_add_root(roots)}`."
        )
    listed = ", ".join(f"`{root}`" for root in roots)
    return f"{why} image folders only inside {listed}. To add one, restart the server with `{how_to_add_root(roots)}`."


def readable_folder(typed: str) -> str:
    """The folder to preview and train on: `typed` as it is on a localhost server; where limits apply, its
    resolved path if it lies inside an allowed root, else "" with the reason shown (nothing is read)."""
    typed = typed.strip()
    if not folder_limits_apply():
        return typed
    roots = folder_roots()
    st.caption(_roots_note(roots))
    if not typed:
        return ""
    try:
        return str(allowed_folder(typed, roots))
    except FolderNotAllowed as err:
        st.error(str(err))
        return ""
