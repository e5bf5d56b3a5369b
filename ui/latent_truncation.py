"""The explorer's page-wide drawing settings (truncation ψ, batch-norm statistics), the Truncation tab's
numbers and the Batch norm tab's lesson."""

from __future__ import annotations

import streamlit as st
import torch

from dcgan.errors import DatasetUnavailable
from dcgan.images import image_grid, upscale
from dcgan.latent.batchnorm_modes import BN_MODES, batch_dependence, has_batchnorm
from dcgan.latent.explore import generate
from dcgan.latent.truncation import (
    TruncationConfig,
    TruncationReport,
    describe_change,
    measure_truncation,
    real_reference,
    share_error,
    truncate,
)
from dcgan.models import seeded_z
from dcgan.quality.score import NEAREST_K
from ui.latent_common import BN_MODE_KEY, MATES_KEY, PSI_KEY, Explorer, real_images_for

TRUNCATION_GRID = 16  # the same z shown at ψ = 1 and at the chosen ψ
# The batch-mate sets (seed, how many) the Batch norm tab draws the one z with: two training-size batches, whose
# statistics are near the running ones, and two small ones, whose statistics are far from them.
MATE_SETS = ((1, 63), (2, 63), (3, 15), (4, 3))


def sampling_controls(explorer: Explorer) -> None:
    """ψ and the batch-norm statistics, above the tabs: they apply to every image the tabs draw."""
    psi_col, bn_col, mates_col = st.columns([2, 3, 1], vertical_alignment="bottom")
    psi_col.slider(
        "Truncation ψ",
        0.0,
        1.0,
        1.0,
        0.05,
        key=PSI_KEY,
        help="z is pulled toward the prior's mean (0): z' = ψ z. ψ = 1 is the plain sample; lower trades variety "
        "for typical samples. Applies to every image on this page; the Truncation tab measures it.",
    )
    if not has_batchnorm(explorer.G):
        bn_col.caption("This generator has no batch norm: its images never depend on the rest of their batch.")
        return
    bn_col.radio(
        "Batch-norm statistics",
        list(BN_MODES),
        format_func=BN_MODES.get,
        horizontal=True,
        key=BN_MODE_KEY,
        help="Saved running statistics: one z, one image. This batch's: each image is normalised with 63 other "
        "z drawn beside it (train mode), so it changes with them. Recomputed: running statistics averaged again "
        "now over 8,192 z.",
    )
    if st.session_state.get(BN_MODE_KEY) == "batch":
        mates_col.number_input("Batch-mates seed", 0, 2**31 - 1, 0, key=MATES_KEY)


def _report(explorer: Explorer, psi: float) -> TruncationReport:
    """Measured once per generator and ψ (two seconds or so each), kept for the session."""
    cache = st.session_state.setdefault("lat-trunc-reports", {})
    key = (explorer.key, round(psi, 3))
    if key not in cache:
        classifier, _ = explorer.classifier()
        cache[key] = measure_truncation(explorer.G, classifier.model, psi, _reference(explorer, classifier.model))
    return cache[key]


def _reference(explorer: Explorer, model):
    """The held-out real images' features (precision and recall compare with them), once per generator; None
    when the dataset's images are not on this machine (the page then says what it cannot measure)."""
    cache = st.session_state.setdefault("lat-trunc-reference", {})
    if explorer.key not in cache:
        try:
            held_out = real_images_for(explorer, 1, TruncationConfig().real).held_out
            cache[explorer.key] = real_reference(model, held_out)
        except (DatasetUnavailable, ValueError, OSError):
            cache[explorer.key] = None
    return cache[explorer.key]


@st.fragment
def truncation_tab(explorer: Explorer) -> None:
    psi = float(st.session_state.get(PSI_KEY, 1.0))
    z = seeded_z(TruncationConfig().seed, TRUNCATION_GRID, explorer.z_dim)
    left, right = st.columns(2)
    plain = image_grid(upscale(generate(explorer.G, z), 2), columns=4)
    left.image(plain, caption="ψ = 1 (plain samples, saved statistics)", output_format="PNG")
    truncated = image_grid(upscale(generate(explorer.G, truncate(z, psi)), 2), columns=4)
    right.image(truncated, caption=f"the same z at ψ = {psi:.2f}", output_format="PNG")
    classifier, why_not = explorer.classifier()
    if classifier is None:
        st.info(f"The truncation's numbers are unavailable for this generator. {why_not}")
        return
    with st.spinner(f"Measuring {TruncationConfig().samples} samples at ψ = 1 and ψ = {psi:.2f}…"):
        before, after = _report(explorer, 1.0), _report(explorer, psi)
    if psi >= 1.0:
        st.markdown("Move **Truncation ψ** (above the tabs) below 1 to see what it trades.")
    else:
        st.markdown(describe_change(before, after))
    columns = st.columns(5)
    if after.precision is not None and before.precision is not None:
        columns[0].metric("Precision (cleaner)", f"{after.precision:.2f}", f"{after.precision - before.precision:+.2f}")
    if after.recall is not None and before.recall is not None:
        columns[1].metric("Recall (variety)", f"{after.recall:.2f}", f"{after.recall - before.recall:+.2f}")
    columns[2].metric("Mean confidence", f"{after.confidence:.1%}", f"{after.confidence - before.confidence:+.1%}")
    columns[3].metric(
        "Feature distance", f"{after.diversity:.1f}", f"{after.diversity - before.diversity:+.1f}", delta_color="off"
    )
    columns[4].metric("Classes made", after.classes_made, after.classes_made - before.classes_made, delta_color="off")
    compared = (
        f"Precision: the share of samples inside the real images' manifold (each of {TruncationConfig().real:,} "
        f"held-out test images' feature ball, reaching its {NEAREST_K}th nearest real neighbour): are samples "
        "realistic? "
        "Recall: the share of those real images inside the samples' manifold: is the data's variety made? "
        f"(Kynkäänniemi et al. 2019; ± {share_error(after.precision, after.samples):.2f} for precision.) "
        if after.precision is not None
        else "No real images of this dataset are on this machine, so precision and recall are not measured. "
    )
    st.caption(
        f"Measured on the same {after.samples:,} z at each ψ (saved batch-norm statistics), in the features of the "
        f"{classifier.feature_space} (test accuracy {classifier.accuracy:.1%}). {compared}"
        "Confidence: the classifier's mean top-class probability. Feature distance: the mean distance between two "
        "samples' 128 penultimate-layer features (lower = less varied). Classes made: classes predicted for at "
        f"least 1% of the batch. Inception-like at ψ: {after.inception_like:.2f} (at 1: {before.inception_like:.2f})."
    )


@st.fragment
def batchnorm_tab(explorer: Explorer) -> None:
    if not has_batchnorm(explorer.G):
        st.info("This generator has no batch norm, so its images never depend on the rest of their batch.")
        return
    z = st.session_state.get("lat-current")
    if z is None or z.numel() != explorer.z_dim:
        z = seeded_z(0, 1, explorer.z_dim)[0]
    st.markdown(
        "**One z, four batches.** In train mode each batch norm normalises with the statistics of the batch it is "
        "in, so the same z (the Sliders tab's) comes out differently beside different batch-mates. In eval mode "
        "it uses the saved running statistics: one z, one image. This is why a generator is sampled in eval mode, "
        "and why samples can look different from those seen during training."
    )
    images, difference = batch_dependence(explorer.G, z, list(MATE_SETS))
    eval_image = generate(explorer.G, z.reshape(1, -1))
    recomputed = generate(explorer.recalibrated(), z.reshape(1, -1))
    row = torch.cat([eval_image, recomputed, images])
    st.image(
        image_grid(upscale(row, 3), columns=len(row)),
        output_format="PNG",
        caption=(
            "left to right: saved running statistics (eval) · statistics recomputed now over 8,192 z · train mode in "
            "a batch with " + " · ".join(f"{n} other z (seed {s})" for s, n in MATE_SETS)
        ),
    )
    st.markdown(
        "The fewer the batch-mates, the further the batch's statistics are from the running ones, and the more the "
        f"image changes. The train-mode images differ from the eval-mode image by **{difference:.3f}** on average "
        "per pixel (pixel "
        f"values from −1 to 1), and from one another by **{_spread(images):.3f}**. "
        "The switch *Batch-norm statistics* above the tabs draws every image of this page in any of these modes."
    )


def _spread(images: torch.Tensor) -> float:
    """Mean |difference| between each pair of images."""
    n = len(images)
    pairs = [(images[i] - images[j]).abs().mean().item() for i in range(n) for j in range(i + 1, n)]
    return sum(pairs) / max(len(pairs), 1)
