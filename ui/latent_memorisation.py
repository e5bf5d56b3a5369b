"""The explorer's Memorisation tab: a sample's nearest training images; whether samples lie nearer training
images than held-out ones; training vs held-out recovery by projection (Webster et al. 2019)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from dcgan.errors import DatasetUnavailable
from dcgan.images import image_grid, upscale
from dcgan.latent.memorisation import (
    HELD_OUT_IMAGES,
    MIN_RELIABLE_IMAGES,
    MemorisationConfig,
    NearestPoolConfig,
    classifier_features,
    nearest_by_features,
    nearest_by_pixels,
    nearest_pool_test,
    reconstruction_gap,
    to_unit,
)
from ui.latent_common import Explorer, progress_callback, real_images_for

NEIGHBOURS = 5  # nearest training images shown per kind of distance
IMAGE_COUNTS = (16, 32, 48, 96, 128, 256, 512, 1000)  # the projection check's choices of images per set
NEIGHBOUR_POOL = 5000  # training images searched for a sample's nearest (the first ones; all are training images)


@st.fragment
def memorisation_tab(explorer: Explorer) -> None:
    try:
        real = real_images_for(explorer, NEIGHBOUR_POOL, HELD_OUT_IMAGES)
    except (DatasetUnavailable, ValueError, OSError) as err:
        st.info(f"The memorisation check needs this generator's training images, which are not available: {err}")
        return
    if not real.exact:
        st.info(
            f"Whether this generator copies its training images cannot be checked here: {real.source}. "
            "Train a run (the Train page) and open its generator here to check it."
        )
        return
    st.caption(f"Training images: {real.source}. Held out: {len(real.held_out):,} images of the test split.")
    _nearest_images(explorer, real.train)
    _nearest_pools(explorer, real)
    _recovery_gap(explorer, real)


def _nearest_pools(explorer: Explorer, real) -> None:
    cfg = NearestPoolConfig()
    pool = min(cfg.pool, len(real.train), len(real.held_out))
    st.markdown(
        "**Do its samples lie nearer its training images?** Each of many samples is placed nearer the training "
        "images or nearer as many held-out ones (pixels): a generator that learnt the kind of image splits them "
        "half and half; one that copies puts more near its training images."
    )
    result = _checked(
        f"Compare {cfg.samples:,} samples with {pool:,} + {pool:,} images",
        "mem-pools",
        (explorer.key, "pools"),
        "Comparing",
        lambda progress: nearest_pool_test(explorer.G, real.train, real.held_out, cfg, progress),
    )
    if result is None:
        return
    st.caption(
        f"How measured: {len(result.train_distances):,} samples (fixed z, the page's ψ and batch-norm setting not "
        f"applied), each one's nearest of {result.pool:,} training images (picked at random from the first "
        f"{len(real.train):,}) and of {result.pool:,} held-out test images, by mean squared pixel difference. "
        "The ± is one standard error of the share if each sample were a fair coin."
    )


def _nearest_images(explorer: Explorer, train: torch.Tensor) -> None:
    st.markdown("**Is this sample a copy?** The Sliders tab's sample and its nearest training images.")
    z = st.session_state.get("lat-current")
    if z is None or z.numel() != explorer.z_dim:
        z = torch.zeros(explorer.z_dim)
    sample = explorer.draw(z.reshape(1, -1))[0]
    scale = max(1, 64 // explorer.G.cfg.image_size)
    rows = []
    by_pixels, pixel_distance = nearest_by_pixels(sample, train, NEIGHBOURS)
    pixel_label = "pixels (root mean square in [-1, 1] units)"
    rows.append((pixel_label, by_pixels, [f"{d:.3f}" for d in pixel_distance.tolist()]))
    classifier, _ = explorer.classifier()
    if classifier is not None:
        features = st.session_state.get("mem-features")
        if features is None or features[0] != (explorer.key, len(train)):
            with st.spinner(f"Classifying {len(train):,} training images (once)…"):
                features = ((explorer.key, len(train)), classifier_features(classifier.model, train))
            st.session_state["mem-features"] = features
        own = classifier_features(classifier.model, sample[None])[0]
        by_features, feature_distance = nearest_by_features(own, features[1], NEIGHBOURS)
        rows.append(("classifier features (Euclidean)", by_features, [f"{d:.1f}" for d in feature_distance.tolist()]))
    for name, index, distances in rows:
        strip = torch.cat([sample[None], to_unit(train[index])])
        st.image(
            image_grid(upscale(strip, scale), columns=len(strip)),
            output_format="PNG",
            caption=f"the sample, then its {len(index)} nearest of {len(train):,} training images by {name}"
            f": distances {', '.join(distances)}",
        )


def _recovery_gap(explorer: Explorer, real) -> None:
    st.markdown(
        "**Does it recover its training images better than unseen ones?** (Webster et al. 2019) Each image is "
        "projected into z by gradient descent; a generator that memorised recovers training images much better."
    )
    c1, c2 = st.columns(2)
    images = c1.select_slider(
        "Images of each set",
        IMAGE_COUNTS,
        MemorisationConfig().images,
        key="mem-images",
        help="More images, a smaller standard error: a gap of 1.08x showed clearly only with 1,000 of each "
        "(about 40 s at 16 px on a 2-core CPU, about 3 minutes at 32 px).",
    )
    steps = c2.slider("Steps per projection", 50, 400, MemorisationConfig().steps, 50, key="mem-steps")
    cfg = MemorisationConfig(images=images, steps=steps)
    count = min(images, len(real.train), len(real.held_out))  # a run of 100 images: 100 of each
    result = _checked(
        f"Project {count:,} training and {count:,} held-out images",
        "mem-projection",
        (explorer.key, images, steps),
        "Projecting (steps of both sets)",
        lambda progress: reconstruction_gap(explorer.G, real.train, real.held_out, cfg, progress),
    )
    if result is None:
        return
    fig = go.Figure(
        [
            go.Histogram(x=result.train_errors.tolist(), name="training images", marker_color="#1f77b4"),
            go.Histogram(x=result.held_out_errors.tolist(), name="held-out images", marker_color="#ff7f0e"),
        ]
    )
    fig.update_traces(opacity=0.6, nbinsx=20)
    fig.update_layout(
        barmode="overlay",
        height=300,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title="reconstruction error (mean squared, pixels in [-1, 1])",
        yaxis_title="images",
    )
    st.plotly_chart(fig, key="mem-histogram")
    st.caption(
        f"How measured: {result.images:,} training images (picked at random from the first {len(real.train):,}) "
        f"and {result.images:,} held-out test images, each projected with {cfg.steps} Adam steps from {cfg.starts} "
        "random starts (pixels at three scales, no discriminator, so every generator is measured alike); the best "
        "error is kept. "
        f"The gap's ± is one standard error; under {MIN_RELIABLE_IMAGES} images per set the page makes no call. "
        "The training images must be the ones this generator saw: for a file outside a run, that is assumed."
    )


def _checked(label: str, state_key: str, key, what: str, compute):
    """A check run when its button is pressed (`compute(progress)`, under a progress bar) and kept for `key` (the
    generator and settings): its result, with its verdict shown, or None until it has run for `key`."""
    if st.button(label, key=f"{state_key}-run", type="primary"):
        bar = st.progress(0.0, text=f"{what}…")
        st.session_state[state_key] = (key, compute(progress_callback(bar, what)))
        bar.empty()
    stored = st.session_state.get(state_key)
    if not stored or stored[0] != key:
        return None
    result = stored[1]
    (st.warning if result.clear and result.reliable else st.info)(result.verdict())
    return result
