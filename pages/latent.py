"""Latent explorer: pick a generator, then slide, interpolate, do arithmetic or project a picture."""

import io
import logging

import streamlit as st

from ui.shell import require_shell

require_shell()

from dcgan.errors import CheckpointError  # noqa: E402
from dcgan.latent.explore import prepare_for_exploring  # noqa: E402
from dcgan.latent.saved_directions import file_digest  # noqa: E402
from dcgan.paths import runs_root  # noqa: E402
from dcgan.runs.catalog import run_generators, shipped_generators  # noqa: E402
from dcgan.runs.generator_file import load_generator  # noqa: E402
from ui.latent_common import Explorer  # noqa: E402
from ui.latent_directions import class_directions_tab  # noqa: E402
from ui.latent_map import map_tab  # noqa: E402
from ui.latent_memorisation import memorisation_tab  # noqa: E402
from ui.latent_tabs import (  # noqa: E402
    SECTION_KEY,
    SECTIONS,
    arithmetic_tab,
    interpolation_tab,
    projection_tab,
    sliders_tab,
)
from ui.latent_truncation import batchnorm_tab, sampling_controls, truncation_tab  # noqa: E402

logger = logging.getLogger(__name__)

st.title("Explore latent space")
st.caption(
    "Every image is the generator in eval mode unless the batch-norm switch says otherwise: the same z always "
    "gives the same image."
)


@st.cache_resource(show_spinner="Loading the generator…", max_entries=8)
def _load_file(path: str, modified: float) -> Explorer:
    G, meta = load_generator(path)
    with open(path, "rb") as f:
        digest = file_digest(f.read())
    return _explorer(G, meta, key=f"{path}@{modified}", digest=digest)


def _load_upload(upload) -> Explorer:
    """Uploaded generators live in this session only (never written to disk), loaded with weights_only=True."""
    cached = st.session_state.get("uploaded-generator")
    if cached and cached.key == upload.file_id:
        return cached
    G, meta = load_generator(io.BytesIO(upload.getvalue()), name=upload.name)
    meta["upload_name"] = upload.name.rsplit(".", 1)[0]
    explorer = _explorer(G, meta, key=upload.file_id, digest=file_digest(upload.getvalue()))
    st.session_state["uploaded-generator"] = explorer
    return explorer


def _explorer(G, meta: dict, key: str, digest: str) -> Explorer:
    """What the tabs compute first, computed here, where a failure on an odd but valid file becomes one message
    instead of a traceback in a tab: the batch-norm check, and the principal directions (the Sliders tab shows
    them at once anyway, and Explorer keeps them)."""
    explorer = Explorer(G, meta, prepare_for_exploring(G), key=key, file_bytes_digest=digest)
    explorer.directions()
    return explorer


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


sources = {"Shipped": shipped_generators(), "From a run": run_generators(runs_root()), "Upload a file": None}
where = st.radio("Generator", list(sources), horizontal=True, key="latent-source")
explorer = None
chosen_name = "that generator"  # what messages call the file, once one is chosen
try:
    if where == "Upload a file":
        upload = st.file_uploader("A generator.pt saved by DCGAN Studio", type=["pt"], key="latent-upload")
        if upload:
            chosen_name = upload.name
            explorer = _load_upload(upload)
    elif not sources[where]:
        st.info(
            "No run has exported a generator yet: one is written when a run finishes or is stopped."
            if where == "From a run"
            else "No generators in checkpoints/."
        )
    else:
        names = [g["name"] for g in sources[where]]
        chosen = sources[where][names.index(st.selectbox("Which", names, key=f"latent-{where}"))]
        chosen_name = chosen["path"].name
        explorer = _load_file(str(chosen["path"]), chosen["path"].stat().st_mtime)
except CheckpointError as err:
    st.error(f"Could not load that generator: {err}")
except MemoryError:
    st.error(f"Not enough memory to load {chosen_name}: close other runs or tabs, or pick a smaller generator.")
except Exception as err:  # e.g. an odd but valid file failing the first computations: one plain message here,
    logger.exception("latent explorer: opening %s failed", chosen_name)  # the traceback in the server's log
    st.error(
        f"Could not open {chosen_name} in the explorer ({type(err).__name__}: {_first_line(err)}). "
        "Pick another generator."
    )

if explorer:
    meta, cfg = explorer.meta, explorer.G.cfg
    st.caption(
        f"{meta.get('dataset', '?')} · {cfg.image_size} px · z of {cfg.z_dim} · step {meta.get('step', '?')}"
        f"{' · run ' + meta['run'] if meta.get('run') else ''}"
    )
    if explorer.note:
        st.info(explorer.note)
    # Keyed and tracked (a switch reruns the page), so a button can open another tab through Session State:
    # "Move this z with the sliders" opens Sliders. Every tab still runs, so none loses its widgets' values.
    sampling_controls(explorer)
    tabs = st.tabs(SECTIONS, key=SECTION_KEY, on_change="rerun")
    views = (
        sliders_tab,
        class_directions_tab,
        truncation_tab,
        map_tab,
        memorisation_tab,
        batchnorm_tab,
        interpolation_tab,
        arithmetic_tab,
        projection_tab,
    )
    for tab, view in zip(tabs, views):
        with tab:
            view(explorer)
