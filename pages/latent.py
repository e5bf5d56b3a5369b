"""Latent explorer: pick a generator, then slide, interpolate, do arithmetic or project a picture."""
import io

import streamlit as st

from ui.shell import require_shell

require_shell()

from dcgan.catalog import run_generators, shipped_generators  # noqa: E402
from dcgan.checkpoint import CheckpointError, load_generator  # noqa: E402
from dcgan.latent import prepare_for_exploring  # noqa: E402
from dcgan.runs import runs_root  # noqa: E402
from ui.latent_tabs import Explorer, arithmetic_tab, interpolation_tab, projection_tab, sliders_tab  # noqa: E402

st.title("Explore latent space")
st.caption("Every image is the generator in eval mode: the same z always gives the same image.")


@st.cache_resource(show_spinner="Loading the generator…", max_entries=8)
def _load_file(path: str, modified: float) -> Explorer:
    G, meta = load_generator(path)
    return Explorer(G, meta, prepare_for_exploring(G), key=f"{path}@{modified}")


def _load_upload(upload) -> Explorer:
    """Uploaded generators live in this session only (never written to disk), loaded with weights_only=True."""
    cached = st.session_state.get("uploaded-generator")
    if cached and cached.key == upload.file_id:
        return cached
    G, meta = load_generator(io.BytesIO(upload.getvalue()))
    explorer = Explorer(G, meta, prepare_for_exploring(G), key=upload.file_id)
    st.session_state["uploaded-generator"] = explorer
    return explorer


sources = {"Shipped": shipped_generators(), "From a run": run_generators(runs_root()), "Upload a file": None}
where = st.radio("Generator", list(sources), horizontal=True, key="latent-source")
explorer = None
try:
    if where == "Upload a file":
        upload = st.file_uploader("A generator.pt saved by DCGAN Studio", type=["pt"], key="latent-upload")
        explorer = _load_upload(upload) if upload else None
    elif not sources[where]:
        st.info("No run has exported a generator yet: one is written when a run finishes or is stopped."
                if where == "From a run" else "No generators in checkpoints/.")
    else:
        names = [g["name"] for g in sources[where]]
        chosen = sources[where][names.index(st.selectbox("Which", names, key=f"latent-{where}"))]
        explorer = _load_file(str(chosen["path"]), chosen["path"].stat().st_mtime)
except CheckpointError as err:
    st.error(f"Could not load that generator: {err}")

if explorer:
    meta, cfg = explorer.meta, explorer.G.cfg
    st.caption(f"{meta.get('dataset', '?')} · {cfg.image_size} px · z of {cfg.z_dim} · step {meta.get('step', '?')}"
               f"{' · run ' + meta['run'] if meta.get('run') else ''}")
    if explorer.note:
        st.info(explorer.note)
    tabs = st.tabs(["Sliders", "Interpolation", "Arithmetic", "Projection"])
    with tabs[0]:
        sliders_tab(explorer)
    with tabs[1]:
        interpolation_tab(explorer)
    with tabs[2]:
        arithmetic_tab(explorer)
    with tabs[3]:
        projection_tab(explorer)
