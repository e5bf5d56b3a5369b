"""The explorer's Map tab (2,000 samples placed by their classifier features) and Memorisation tab (nearest
training images of a sample; training vs held-out recovery by projection)."""

from __future__ import annotations

import time

import plotly.graph_objects as go
import streamlit as st
import torch

from dcgan.errors import DatasetUnavailable
from dcgan.images import image_grid, upscale
from dcgan.latent.memorisation import (
    MIN_RELIABLE_IMAGES,
    MemorisationConfig,
    classifier_features,
    nearest_by_features,
    nearest_by_pixels,
    reconstruction_gap,
    to_unit,
)
from dcgan.latent.real_images import real_images_of
from dcgan.latent.sample_map import MapConfig, build_map
from dcgan.progress import format_duration
from ui.latent_common import Explorer, load_into_sliders

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
NEIGHBOURS = 5  # nearest training images shown per kind of distance
NEIGHBOUR_POOL = 5000  # training images searched for a sample's nearest (the first ones; all are training images)
HELD_OUT_POOL = 512  # held-out test images the memorisation check picks from


def _progress_callback(bar, what: str):
    start = time.perf_counter()

    def update(done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (total - done) if done else None
        bar.progress(done / total, text=f"{what}… {done:,} of {total:,} · ETA {format_duration(eta)}")

    return update


def _real(explorer: Explorer, train_limit: int, test_limit: int = 1):
    cfg = explorer.G.cfg
    return real_images_of(explorer.meta, explorer.path, cfg.image_size, cfg.channels, train_limit, test_limit)


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
            real = _real(explorer, cfg.real).train if overlay else None
        except (DatasetUnavailable, ValueError, OSError) as err:
            st.warning(f"No real images to overlay: {err}")
            real = None
        result = build_map(explorer.G, classifier.model, cfg, real, _progress_callback(bar, "Classifying"))
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


# -- memorisation ----------------------------------------------------------------------------------------
@st.fragment
def memorisation_tab(explorer: Explorer) -> None:
    try:
        real = _real(explorer, NEIGHBOUR_POOL, HELD_OUT_POOL)
    except (DatasetUnavailable, ValueError, OSError) as err:
        st.info(f"The memorisation check needs this generator's training images, which are not available: {err}")
        return
    st.caption(f"Training images: {real.source}. Held out: {len(real.held_out):,} images of the test split.")
    _nearest_images(explorer, real.train)
    _recovery_gap(explorer, real)


def _nearest_images(explorer: Explorer, train: torch.Tensor) -> None:
    st.markdown("**Is this sample a copy?** The Sliders tab's sample and its nearest training images.")
    z = st.session_state.get("lat-current")
    if z is None or z.numel() != explorer.z_dim:
        z = torch.zeros(explorer.z_dim)
    sample = explorer.draw(z.reshape(1, -1))[0]
    scale = max(1, 64 // explorer.G.cfg.image_size)
    rows = []
    by_pixels, pixel_distance = nearest_by_pixels(sample, train, NEIGHBOURS)
    rows.append(("pixels", by_pixels, [f"{d:.3f}" for d in pixel_distance.tolist()]))
    classifier, _ = explorer.classifier()
    if classifier is not None:
        features = st.session_state.get("mem-features")
        if features is None or features[0] != (explorer.key, len(train)):
            with st.spinner(f"Classifying {len(train):,} training images (once)…"):
                features = ((explorer.key, len(train)), classifier_features(classifier.model, train))
            st.session_state["mem-features"] = features
        own = classifier_features(classifier.model, sample[None])[0]
        by_features, feature_distance = nearest_by_features(own, features[1], NEIGHBOURS)
        rows.append(("classifier features", by_features, [f"{d:.1f}" for d in feature_distance.tolist()]))
    for name, index, distances in rows:
        strip = torch.cat([sample[None], to_unit(train[index])])
        st.image(
            image_grid(upscale(strip, scale), columns=len(strip)),
            output_format="PNG",
            caption=f"the sample, then its {len(index)} nearest of {len(train):,} training images by {name} "
            f"(distances {', '.join(distances)}; pixel distance: root mean square in [-1, 1] units)",
        )


def _recovery_gap(explorer: Explorer, real) -> None:
    st.markdown(
        "**Does it recover its training images better than unseen ones?** (Webster et al. 2019) Each image is "
        "projected into z by gradient descent; a generator that memorised recovers training images much better."
    )
    c1, c2 = st.columns(2)
    images = c1.slider("Images of each set", 8, 128, MemorisationConfig().images, 8, key="mem-images")
    steps = c2.slider("Steps per projection", 50, 400, MemorisationConfig().steps, 50, key="mem-steps")
    cfg = MemorisationConfig(images=images, steps=steps)
    key = (explorer.key, images, steps)
    if st.button(f"Project {images} training and {images} held-out images", key="mem-run", type="primary"):
        bar = st.progress(0.0, text="Projecting…")
        result = reconstruction_gap(
            explorer.G, real.train, real.held_out, cfg, _progress_callback(bar, "Projecting (steps of both sets)")
        )
        bar.empty()
        st.session_state["mem-result"] = (key, result)
    stored = st.session_state.get("mem-result")
    if not stored or stored[0] != key:
        return
    result = stored[1]
    (st.warning if result.clear and result.reliable else st.info)(result.verdict())
    fig = go.Figure(
        [
            go.Histogram(x=result.train_errors.tolist(), name="training images", opacity=0.6, nbinsx=20),
            go.Histogram(x=result.held_out_errors.tolist(), name="held-out images", opacity=0.6, nbinsx=20),
        ]
    )
    fig.update_layout(
        barmode="overlay",
        height=300,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title="reconstruction error (mean squared, pixels in [-1, 1])",
        yaxis_title="images",
    )
    st.plotly_chart(fig, key="mem-histogram")
    st.caption(
        f"How measured: {cfg.images} training images (picked at random from the first {len(real.train):,}) and "
        f"{cfg.images} held-out test images, each projected with {cfg.steps} Adam steps from {cfg.starts} random "
        "starts (pixels at three scales, no discriminator, so every generator is measured alike); the best error "
        "is kept. "
        f"The gap's ± is one standard error; under {MIN_RELIABLE_IMAGES} images per set the page makes no call. "
        "The training images must be the ones this generator saw: for a file outside a run, that is assumed."
    )
