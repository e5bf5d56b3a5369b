"""The explorer's Map tab: 2,000 samples placed by their classifier features, coloured by the class read, with
real training images optionally overlaid; a click shows a sample and moves it to the sliders."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dcgan.errors import DatasetUnavailable
from dcgan.latent.sample_map import MapConfig, build_map
from ui.latent_common import Explorer, load_into_sliders, progress_callback, real_images_for

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


# -- map -------------------------------------------------------------------------------------------------
@st.fragment
def map_tab(explorer: Explorer) -> None:
    classifier, why_not = explorer.classifier()
    if classifier is None:
        st.info(f"The map is unavailable for this generator. {why_not}")
        return
    cfg = MapConfig()
    st.markdown(
        f"**{cfg.samples:,} samples**, placed by the first two principal components of the "
        f"{classifier.feature_space}'s features and coloured by the class it reads. Click a point to see its "
        "sample and move it with the sliders."
    )
    overlay = st.toggle(
        f"Overlay {cfg.real:,} real training images (grey crosses): where they lie and no sample does, the "
        "generator misses a mode",
        key="map-real",
    )
    key = (explorer.key, overlay)
    found = st.session_state.get("map-result")
    if found is None or found[0] != key:
        if not st.button("Draw the map", key="map-run", type="primary"):
            return
        bar = st.progress(0.0, text="Drawing samples…")
        try:
            real = real_images_for(explorer, cfg.real).train if overlay else None
        except (DatasetUnavailable, ValueError, OSError) as err:
            st.warning(f"No real images to overlay: {err}")
            real = None
        result = build_map(explorer.G, classifier.model, cfg, real, progress_callback(bar, "Classifying"))
        bar.empty()
        st.session_state["map-result"] = found = (key, result)
    result = found[1]
    event = st.plotly_chart(_map_figure(result), on_select="rerun", selection_mode="points", key="map-chart")
    st.caption(
        f"Axes: principal components 1 and 2 of the samples' 128 classifier features ({result.explained[0]:.0%} and "
        f"{result.explained[1]:.0%} of their variance). PCA rather than t-SNE: no extra package, and distances "
        "along the axes mean the same everywhere."
    )
    chosen = _chosen_sample(event)
    if chosen is None:
        return
    z = result.z[chosen]
    left, right = st.columns([1, 3])
    left.image(
        explorer.image(z[None]),
        caption=f"map sample {chosen}: read as {result.predicted[chosen].item()} "
        f"({result.confidence[chosen].item():.0%})",
        output_format="PNG",
    )
    if right.button(
        "Move this z with the sliders",
        key="map-to-sliders",
        on_click=load_into_sliders,
        args=(z, f"map sample {chosen}"),
    ):
        st.rerun(scope="app")


def _chosen_sample(event) -> int | None:
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else []
    if not points and hasattr(event, "selection"):
        points = event.selection.get("points", [])
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and data >= 0:
            return int(data)
    return None


def _map_figure(result) -> go.Figure:
    fig = go.Figure()
    if result.real_coords is not None:
        fig.add_trace(
            go.Scattergl(
                x=result.real_coords[:, 0].tolist(),
                y=result.real_coords[:, 1].tolist(),
                mode="markers",
                name="real training images",
                marker=dict(symbol="x", size=6, color="rgba(0,0,0,0.55)"),
                customdata=[-1] * len(result.real_coords),
                hoverinfo="skip",
            )
        )
    for c in range(int(result.predicted.max().item()) + 1):
        mask = result.predicted == c
        if not mask.any():
            continue
        index = mask.nonzero().flatten()
        fig.add_trace(
            go.Scattergl(
                x=result.coords[index, 0].tolist(),
                y=result.coords[index, 1].tolist(),
                mode="markers",
                name=f"read as {c}",
                marker=dict(size=5, color=COLOURS[c % len(COLOURS)], opacity=0.75),
                customdata=index.tolist(),
                hovertemplate="sample %{customdata}<extra>read as " + str(c) + "</extra>",
            )
        )
    fig.update_layout(
        height=560,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title="component 1",
        yaxis_title="component 2",
        legend=dict(orientation="h", y=-0.12),
    )
    return fig
