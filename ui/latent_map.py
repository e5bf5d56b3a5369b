"""The explorer's Map tab: 2,000 samples placed by t-SNE (or PCA) of their classifier features, coloured by the
class read, with real training images optionally embedded with them; a click loads a sample into the sliders.

Hover shows the sample's number, class and confidence, not its picture: Plotly draws no images in hover labels
(an <img> in a hovertemplate is dropped) and Streamlit passes no hover events back, so a thumbnail would need a
custom component. The click shows the picture instead, beside the map, in the same rerun."""

from __future__ import annotations

import base64
import time
from functools import partial

import plotly.graph_objects as go
import streamlit as st
import torch

from dcgan.errors import DatasetUnavailable
from dcgan.images import image_grid, png_bytes
from dcgan.latent.explore import generate
from dcgan.latent.sample_map import MapConfig, PicturesConfig, SampleMap, build_map, lonely_real_share, pictured_samples
from dcgan.latent.truncation import truncate
from dcgan.progress import format_duration
from ui.latent_common import PSI_KEY, SECTION_KEY, Explorer, load_into_sliders, real_images_for

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
PLACEMENTS = {"t-SNE: clusters by digit": "tsne", "PCA: axes that mean the same everywhere": "pca"}
STAGE_WORDS = {"drawing": "Drawing samples", "classifying": "Classifying", "embedding": "Placing them"}
RESULTS_KEY = "map-results"  # (generator, placement, overlay, ψ) -> (SampleMap, real images' source, seconds)
PICTURES_KEY = "map-pictures-drawn"  # the same keys as RESULTS_KEY -> the pictures on that map
PICKED_KEY = "map-picked"  # (sample number, its label, its z): the sample last loaded from the map
FRESH_PICK_KEY = "map-fresh-pick"  # set by the click's callback: the whole page must redraw once
KEPT_MAPS = 4  # maps kept per session: switching placement or overlay back is instant
THIS_TAB = "Map"  # this tab's name in latent_tabs.SECTIONS


class StageProgress:
    """build_map's progress(done, total) and on_stage(name), shown in one bar: the stage, the share, the ETA."""

    def __init__(self, bar, method: str):
        self.bar, self.start, self.stage = bar, time.perf_counter(), "Starting"
        self.words = {**STAGE_WORDS, "embedding": "Embedding with t-SNE" if method == "tsne" else "Placing by PCA"}

    def on_stage(self, name: str) -> None:
        self.stage = self.words.get(name, name)

    def __call__(self, done: float, total: float) -> None:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (total - done) if done else None
        self.bar.progress(min(done / total, 1.0), text=f"{self.stage}… {done / total:.0%} · ETA {format_duration(eta)}")


@st.fragment
def map_tab(explorer: Explorer) -> None:
    if st.session_state.pop(FRESH_PICK_KEY, False):
        # A click reruns only this fragment, so the browser still holds the Sliders tab's old seed box and would
        # send it back on the next full run, undoing the load: one full run now hands it the emptied box.
        st.rerun(scope="app")
    classifier, why_not = explorer.classifier()
    if classifier is None:
        st.info(f"The map is unavailable for this generator. {why_not}")
        return
    cfg = MapConfig()
    st.markdown(
        f"**{cfg.samples:,} samples** placed by their {classifier.feature_space}'s features and coloured by the "
        "class it reads. **Click a point**: its z goes into the Sliders tab, and its picture appears beside the map."
    )
    placement = st.radio("Placement", list(PLACEMENTS), key="map-method", horizontal=True)
    cfg.method = PLACEMENTS[placement]
    cfg.psi = float(st.session_state.get(PSI_KEY, 1.0))  # the page's ψ: a clicked point looks the same in Sliders
    overlay = st.toggle(
        f"Overlay {cfg.real:,} real training images (grey crosses): where they lie and no sample does, the "
        "generator misses a mode",
        key="map-real",
    )
    pictures = st.toggle(
        "Pictures on the map: a sample drawn at its place in each part of the map (hover and click still work)",
        key="map-pictures",
    )
    results = st.session_state.setdefault(RESULTS_KEY, {})
    key = (explorer.key, cfg.method, overlay, cfg.psi)
    if key not in results:
        if not st.button("Draw the map", key="map-run", type="primary"):
            return
        try:
            results[key] = _draw(explorer, classifier.model, cfg, overlay)
        except ValueError as err:  # e.g. a generator whose outputs are NaN
            st.error(f"Could not draw the map: {err}")
            return
        while len(results) > KEPT_MAPS:
            results.pop(next(iter(results)))
    result, real_source, seconds = results[key]
    chart_col, picked_col = st.columns([3, 1])
    chart_key = f"map-chart-{cfg.method}-{int(overlay)}"  # one selection per figure
    with chart_col:
        picked = st.session_state.get(PICKED_KEY)
        st.plotly_chart(
            _map_figure(
                result,
                picked[0] if picked and torch.equal(picked[2], result.z[picked[0]]) else None,
                _pictures(explorer, result, key) if pictures else None,
            ),
            on_select=partial(_load_picked, chart_key, result),
            selection_mode="points",
            key=chart_key,
        )
    with picked_col:
        _picked(explorer)
    # PCA's caption quotes t-SNE's agreement once it is drawn
    other = results.get((explorer.key, "tsne", overlay, cfg.psi))
    st.caption(_explanation(result, real_source, seconds, other[0].agreement["tsne"] if other else None))


def _draw(explorer: Explorer, model, cfg: MapConfig, overlay: bool):
    bar = st.progress(0.0, text="Starting…")
    real, real_labels, source = None, None, None
    if overlay:
        try:
            found = real_images_for(explorer, cfg.real)
            real, real_labels, source = found.train, found.train_labels, found.source
        except (DatasetUnavailable, ValueError, OSError) as err:
            st.warning(f"No real images to overlay: {err}")
    progress = StageProgress(bar, cfg.method)
    start = time.perf_counter()
    result = build_map(explorer.G, model, cfg, real, progress, real_labels=real_labels, on_stage=progress.on_stage)
    bar.empty()
    return result, source, time.perf_counter() - start


def _sample_label(result: SampleMap, index: int) -> str:
    return f"map sample {index} (read as {result.predicted[index].item()}, {result.confidence[index].item():.0%})"


def _load_picked(chart_key: str, result: SampleMap) -> None:
    """The chart's on_select callback, before the rerun: the clicked sample becomes the Sliders tab's z. This tab
    stays open (the page says where the z went), so the picture and the map stay side by side."""
    index = _chosen_sample(st.session_state.get(chart_key))
    if index is None or index >= len(result.z):  # a click on empty space or a real image clears the selection
        return
    label = _sample_label(result, index)
    load_into_sliders(result.z[index], label)
    st.session_state[SECTION_KEY] = THIS_TAB  # load_into_sliders opens Sliders; the click came from here
    st.session_state[PICKED_KEY] = (index, label, result.z[index].clone())
    st.session_state[FRESH_PICK_KEY] = True


def _picked(explorer: Explorer) -> None:
    picked = st.session_state.get(PICKED_KEY)
    if picked is None or picked[2].numel() != explorer.z_dim:
        st.info("Click a point to see its sample here and load its z into the Sliders tab.")
        return
    index, label, z = picked
    st.image(explorer.image(z[None]), caption=f"map sample {index}", output_format="PNG")
    base = st.session_state.get("lat-base")
    if base is not None and base[1] == label:
        st.success(f"{label[0].upper()}{label[1:]} is now in the Sliders tab: open it to move this z.")
    else:
        st.info(f"{label[0].upper()}{label[1:]} was loaded; the Sliders tab has moved on since.")


def _chosen_sample(event) -> int | None:
    """The sample number (customdata[0]) of the first selected sample point; real images carry -1."""
    selection = (event or {}).get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    for point in (selection or {}).get("points", []):
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and data >= 0:
            return int(data)
    return None


def _explanation(result: SampleMap, real_source: str | None, seconds: float, tsne_agreement: float | None) -> str:
    k, agreement = result.neighbours, result.agreement
    mine = agreement[result.method]
    if result.method == "tsne":
        words = (
            "Placed by t-SNE (van der Maaten and Hinton 2008) of the classifier's features: each sample's nearest "
            "neighbours stay near it, so each digit gathers in its own clusters; the distances between clusters, "
            "their sizes and the axes mean little."
        )
        if result.real_coords is not None:
            words += " The real images were embedded together with the samples, so both share this plane."
    else:
        assert result.explained is not None
        words = (
            f"Axes: principal components 1 and 2 of the samples' classifier features ({result.explained[0]:.0%} "
            f"and {result.explained[1]:.0%} of their variance); real images are projected on the same axes."
        )
    words += (
        f" How well it keeps the digits apart: for {mine:.0%} of the samples most of their {k} nearest "
        f"neighbours on this map are read as the same digit"
    )
    if result.method != "pca":
        words += f" (PCA of the same features: {agreement['pca']:.0%}; "
    elif tsne_agreement is not None:
        words += f" (t-SNE of the same features: {tsne_agreement:.0%}; "
    else:
        words += " (t-SNE, the other placement, separates them better; "
    words += f"with the digits shuffled among the samples: {agreement['shuffled']:.0%})."
    lonely = lonely_real_share(result)
    if lonely is not None:
        words += (
            f" {lonely:.0%} of the real images have no sample among their {k} nearest points: where they cluster "
            f"alone, the generator does not go. Real images: {real_source}."
        )
    if result.psi != 1:
        words += f" The samples are drawn at the page's truncation ψ = {result.psi:.2f}."
    return words + f" Drawn, classified and placed in {seconds:.1f} s."


def _pictures(explorer: Explorer, result: SampleMap, key) -> list[tuple[float, float, str]]:
    """(x, y, PNG data URI) of the samples pictured_samples spreads over the map, drawn as the map drew them (eval
    mode, the map's ψ), not with the page's batch-norm switch; made once per map (a click reruns this tab)."""
    cache = st.session_state.setdefault(PICTURES_KEY, {})
    if key not in cache:
        cache[key] = _draw_pictures(explorer, result)
        while len(cache) > KEPT_MAPS:
            cache.pop(next(iter(cache)))
    return cache[key]


def _draw_pictures(explorer: Explorer, result: SampleMap) -> list[tuple[float, float, str]]:
    chosen = pictured_samples(result.coords, PicturesConfig().cells)
    images = generate(explorer.G, truncate(result.z[chosen], result.psi))
    pngs = [png_bytes(image_grid(image[None], padding=0)) for image in images]
    uris = [f"data:image/png;base64,{base64.b64encode(png).decode()}" for png in pngs]
    return [(*result.coords[i].tolist(), uri) for i, uri in zip(chosen, uris)]


def _map_figure(
    result: SampleMap, picked: int | None = None, pictures: list[tuple[float, float, str]] | None = None
) -> go.Figure:
    fig = go.Figure()
    if pictures:
        placed = result.coords[torch.isfinite(result.coords).all(1)]
        spread = (placed.max(0).values - placed.min(0).values).max().item() if len(placed) else 0.0
        size = PicturesConfig().size * spread if spread > 0 else 1.0  # one point (or all in one): any size shows
        for x, y, uri in pictures:
            fig.add_layout_image(
                source=uri, xref="x", yref="y", x=x, y=y, sizex=size, sizey=size,
                xanchor="center", yanchor="middle", layer="below", sizing="contain",
            )  # fmt: skip
    if result.real_coords is not None:
        labels = result.real_labels.tolist() if result.real_labels is not None else ["?"] * len(result.real_coords)
        fig.add_trace(
            go.Scattergl(
                x=result.real_coords[:, 0].tolist(),
                y=result.real_coords[:, 1].tolist(),
                mode="markers",
                name="real training images",
                marker=dict(symbol="x", size=6, color="rgba(0,0,0,0.55)"),
                customdata=[[-1, label] for label in labels],
                hovertemplate="real training image of a %{customdata[1]}<extra></extra>",
            )
        )
    for c in range(int(result.predicted.max().item()) + 1):
        index = (result.predicted == c).nonzero().flatten()
        if not len(index):
            continue
        fig.add_trace(
            go.Scattergl(
                x=result.coords[index, 0].tolist(),
                y=result.coords[index, 1].tolist(),
                mode="markers",
                name=f"read as {c}",
                marker=dict(size=5, color=COLOURS[c % len(COLOURS)], opacity=0.75),
                unselected=dict(marker=dict(opacity=0.75)),  # a click picks one sample: the others stay as bright
                customdata=[[i, round(100 * result.confidence[i].item())] for i in index.tolist()],
                hovertemplate=(
                    f"sample %{{customdata[0]}}: read as {c} (%{{customdata[1]}}%)<br>click: load into the Sliders"
                    "<extra></extra>"
                ),
            )
        )
    if picked is not None:  # a ring round the sample now in the sliders (not itself a sample: -1)
        fig.add_trace(
            go.Scatter(
                x=[result.coords[picked, 0].item()],
                y=[result.coords[picked, 1].item()],
                mode="markers",
                name=f"in the sliders: sample {picked}",
                marker=dict(size=16, symbol="circle-open", color="black", line=dict(width=2)),
                customdata=[[-1]],
                hoverinfo="skip",
            )
        )
    axis = dict(showticklabels=result.method == "pca", showgrid=result.method == "pca", zeroline=False)
    fig.update_layout(
        height=560,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(title="component 1" if result.method == "pca" else "t-SNE 1", **axis),
        yaxis=dict(title="component 2" if result.method == "pca" else "t-SNE 2", **axis),
        legend=dict(orientation="h", y=-0.12),
        clickmode="event+select",
    )
    return fig
