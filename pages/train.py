"""Train: a form to start a run in the background, the live view of a run, and the table of all runs."""

import streamlit as st

from dcgan.config import DATASETS
from dcgan.data.loading import preview
from dcgan.data.presets import DATASET_PRESETS, preset_config
from dcgan.errors import ConfigError, DatasetUnavailable, RunLocked
from dcgan.paths import runs_root
from dcgan.runs.directory import ACTIVE_STATES, RunDirectory
from dcgan.runs.manage import list_runs, start_run
from ui.folder_field import readable_folder
from ui.run_view import run_view
from ui.runs_table import runs_table
from ui.settings_form import DATASET_LABELS, settings_form
from ui.shell import require_shell

require_shell()

TABLE_REFRESH_S = 3.0

st.title("Train a DCGAN")


@st.cache_data(show_spinner=False, max_entries=8)
def _preview(dataset: str, folder: str, size: int, channels: int, limit: int):
    return preview(preset_config(dataset, folder=folder, limit=limit).data, size, channels)


def _open(name: str) -> None:
    """Show run `name` below; kept in the address so a browser refresh comes back to it."""
    st.session_state["open-run"] = name
    st.query_params["run"] = name


try:
    runs = list_runs()
except ConfigError as err:  # the runs folder (DCGAN_RUNS_DIR) is a file
    st.error(str(err))
    st.stop()
open_name = st.session_state.get("open-run") or st.query_params.get("run")
names = [r["name"] for r in runs]
if open_name and open_name not in names:  # deleted, or a mistyped address: say so, and fix the address
    st.warning(f"There is no run named {open_name!r} (deleted, or a mistyped address). Open one from the table below.")
    st.session_state.pop("open-run", None)
    st.query_params.pop("run", None)
elif not open_name:
    active = [r["name"] for r in runs if r["state"] in ACTIVE_STATES]
    open_name = (active or names or [None])[0]
# Collapsed while a run is shown below, so after Start, Stop or Open the run view stays in sight; open when there is
# none to show. Keyed by the run shown: opening another run collapses it even if the person had opened it, while a
# rerun for the same run (Stop, Resume, a refresh of the view) leaves it as the person left it.
with st.expander("Start a new run", expanded=open_name not in names, key=f"new-run-form-{open_name or ''}"):
    dataset = st.selectbox("Dataset", DATASETS, format_func=DATASET_LABELS.get, key="dataset")
    folder = (
        st.text_input(
            "Image folder",
            key="folder",
            help="For example ~/data/img_align_celeba (CelebA). "
            "Searched recursively; images are centre-cropped to squares.",
        )
        if dataset == "folder"
        else ""
    )
    folder = readable_folder(folder) if dataset == "folder" else ""  # a network-exposed server reads allowed roots only
    preset = DATASET_PRESETS[dataset]
    size = st.session_state.get(f"{dataset}:image_size", preset["image_size"])
    channels = st.session_state.get(f"{dataset}:channels", preset["channels"])
    limit = st.session_state.get(f"{dataset}:limit", 0)
    if dataset != "folder" or folder:
        try:
            with st.spinner(f"Loading {DATASET_LABELS[dataset]} for a preview (the first time can take ~20 s)…"):
                shown = _preview(dataset, folder.strip(), size, channels, limit)
            count, grid = shown
            # A folder's preview (dcgan.data.folder.FolderPreview) also says which files are skipped and why.
            caption = (
                shown.caption(size)
                if hasattr(shown, "caption")
                else f"{count:,} training images at {size} px — a few of them"
            )
            st.image(grid, width=320, caption=caption, output_format="PNG")
        except (DatasetUnavailable, ConfigError) as err:
            st.error(str(err))
    settings = settings_form(dataset)
    if settings is not None:
        try:
            processes = settings.pop("processes", 1)  # GPUs, one process each (torchrun) when more than one
            config = preset_config(dataset, folder=folder.strip(), **settings)
            with st.spinner("Checking the settings and starting the run…"):
                run = start_run(config, processes=processes)
            _open(run.name)
            st.rerun()
        except (ConfigError, DatasetUnavailable, RunLocked, OSError) as err:
            st.error(f"Could not start: {err}")

if open_name in names:
    st.subheader("Run")
    run_view(RunDirectory(runs_root() / open_name))


def _all_runs() -> None:
    opened = runs_table(list_runs())
    if opened:
        _open(opened)
        st.rerun(scope="app")


st.subheader("All runs")
# The table refreshes itself while any run trains, so its states, epochs and losses stay current.
st.fragment(_all_runs, run_every=TABLE_REFRESH_S if any(r["state"] in ACTIVE_STATES for r in runs) else None)()
