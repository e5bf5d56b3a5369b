"""Directions in the latent explorer: the family switch beside the sliders (PCA, SeFa, fitted classes, saved),
a strip along one direction with its PNG, saving and deleting named directions, and the Class directions tab."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from dcgan.images import image_grid, png_bytes, upscale
from dcgan.latent.class_directions import CLASS_SPAN, conditional_direction
from dcgan.latent.directions import STRIP_SPAN, STRIP_STEPS, DirectionSet, strip_z
from dcgan.latent.saved_directions import (
    DirectionsFileError,
    delete_direction,
    directions_file,
    load_directions,
    save_direction,
)
from dcgan.models import seeded_z
from dcgan.paths import runs_root
from dcgan.quality.digit_classifier import classify
from ui.latent_common import Explorer, download

FAMILIES = {"PCA": "PCA (GANSpace)", "SeFa": "SeFa (closed form)", "Classes": "Classes (fitted)", "Saved": "Saved"}
FAMILY_KEY = "lat-family"
SLIDER_PREFIX = {"PCA": "lat-pc", "SeFa": "lat-sefa", "Classes": "lat-cls", "Saved": "lat-saved"}
PREVIEW_SAMPLES = 16  # moved samples shown in the Class directions tab
HISTOGRAM_SAMPLES = 300  # moved samples whose classes the histogram counts


def store_path(explorer: Explorer):
    stem = explorer.path.parent.name if explorer.path else explorer.meta.get("upload_name", "upload")
    if explorer.path and explorer.path.stem != "generator":
        stem = explorer.path.stem
    return directions_file(explorer.path, stem, explorer.file_bytes_digest, runs_root())


def saved_set(explorer: Explorer) -> tuple[DirectionSet | None, str | None]:
    """(The saved directions as a family, or None when none are saved; the file's problem, if it has one)."""
    try:
        saved = load_directions(store_path(explorer), explorer.z_dim)
    except DirectionsFileError as err:
        return None, str(err)
    if not saved:
        return None, None
    return DirectionSet("Saved", torch.stack([d.vector for d in saved]), [d.name for d in saved]), None


def class_set(explorer: Explorer, classes: list[int] | None = None) -> DirectionSet:
    found = explorer.class_directions()
    chosen = classes if classes else list(range(len(found.normals)))
    return DirectionSet(
        "Classes (fitted)",
        found.normals[chosen],
        [f"toward class {c} (boundary right on {found.accuracy[c]:.0%} of samples)" for c in chosen],
    )


def current_family(explorer: Explorer, name: str) -> DirectionSet | None:
    if name in ("PCA", "SeFa"):
        return explorer.family(name)
    if name == "Classes":
        return class_set(explorer) if explorer.has_class_directions() else None
    return saved_set(explorer)[0]


def direction_family_sliders(explorer: Explorer, span: float, version: int) -> torch.Tensor:
    """The family switch and its sliders; returns how far they move z (z_dim,)."""
    offered = ["PCA", "SeFa"] + (["Classes"] if explorer.has_class_directions() else []) + ["Saved"]
    if st.session_state.get(FAMILY_KEY) not in offered:
        st.session_state[FAMILY_KEY] = "PCA"
    name = st.radio(
        "Directions",
        offered,
        format_func=FAMILIES.get,
        horizontal=True,
        key=FAMILY_KEY,
        help="PCA (GANSpace): principal components of the first layer over 4,096 sampled z, carried back to z. "
        "SeFa: eigenvectors of AᵀA for the first layer's weight A, from the weights alone (Shen & Zhou 2021). "
        "Classes: boundaries fitted in the Class directions tab. Saved: the ones you named.",
    )
    family = current_family(explorer, name)
    moved = torch.zeros(explorer.z_dim)
    if family is None:
        st.caption("No directions saved for this generator yet: save one below the image.")
        return moved
    reach = CLASS_SPAN if name == "Classes" else span
    columns = st.columns(2)
    for i in range(len(family)):
        amount = columns[i % 2].slider(
            family.labels[i], -reach, reach, 0.0, 0.05, key=f"{SLIDER_PREFIX[name]}-{version}-{i}"
        )
        moved += amount * family.directions[i]
    st.session_state["lat-moved"] = moved
    return moved


def direction_tools(explorer: Explorer, z: torch.Tensor) -> None:
    """Below the sliders: a strip along one direction (PNG), and saving/deleting named directions."""
    name = st.session_state.get(FAMILY_KEY, "PCA")
    family = current_family(explorer, name)
    choices = ([f"{label}" for label in family.labels] if family is not None else []) + ["the sliders' whole move"]
    with st.expander(f"Strip along a direction (−{STRIP_SPAN:g}σ … +{STRIP_SPAN:g}σ), save a direction"):
        picked = st.selectbox("Direction", choices, key="lat-strip-dir")
        if picked == choices[-1]:
            vector = st.session_state.get("lat-moved", torch.zeros(explorer.z_dim))
            origin = f"sliders' move ({FAMILIES[name]})"
        else:
            index = choices.index(picked)
            vector, origin = family.directions[index], f"{family.family}: {family.labels[index]}"  # type: ignore[union-attr]
        if vector.norm() < 1e-6:
            st.info("The sliders have not moved z yet: move one, or pick a direction above.")
            return
        strip = image_grid(upscale(explorer.draw(strip_z(z, vector)), 2), columns=STRIP_STEPS)
        st.image(
            strip,
            caption=f"{picked}: the current sample moved −{STRIP_SPAN:g}σ … +{STRIP_SPAN:g}σ (σ = 1 along any unit "
            "direction of z)",
            output_format="PNG",
        )
        download("Download strip PNG", png_bytes(strip), "direction-strip.png", "image/png", "lat-strip-png")
        _save_controls(explorer, vector, origin)


def _save_controls(explorer: Explorer, vector: torch.Tensor, origin: str) -> None:
    path = store_path(explorer)
    name_col, save_col = st.columns([3, 1], vertical_alignment="bottom")
    name = name_col.text_input("Name", key="lat-save-name", placeholder="e.g. thicker strokes")
    if save_col.button("Save direction", key="lat-save"):
        try:
            save_direction(path, name, vector, origin, explorer.meta.get("run") or str(explorer.path or "upload"))
            st.success(f"Saved {name.strip()!r}: it is in the Saved family, here and whenever this generator loads.")
        except DirectionsFileError as err:
            st.error(str(err))
        except OSError as err:
            st.error(f"Could not write {path}: {err.strerror or err}. Check that the runs folder is writable.")
    saved, problem = saved_set(explorer)
    if problem:
        st.error(problem)
    st.caption(f"Saved directions are kept in {path}.")
    if saved is not None:
        gone_col, delete_col = st.columns([3, 1], vertical_alignment="bottom")
        gone = gone_col.selectbox("Saved directions", saved.labels, key="lat-delete-name")
        if delete_col.button("Delete", key="lat-delete"):
            delete_direction(path, gone, explorer.z_dim, "")
            st.rerun(scope="app")


# -- the Class directions tab --------------------------------------------------------------------------------
@st.fragment
def class_directions_tab(explorer: Explorer) -> None:
    classifier, why_not = explorer.classifier()
    if classifier is None:
        st.info(f"Class directions are unavailable for this generator. {why_not}")
        return
    st.markdown(
        "**Make it a 7**: a linear boundary in z per class (InterFaceGAN), fitted to what the "
        f"{classifier.feature_space} (test accuracy {classifier.accuracy:.1%}) reads in 3,000 samples; "
        "its normal is the direction toward the class."
    )
    if not explorer.has_class_directions():
        if not st.button("Fit the class directions (about 10 s)", key="cls-fit", type="primary"):
            return
        bar = st.progress(0.0, text="Classifying samples…")
        explorer.class_directions(lambda i, n: bar.progress(i / n, text=f"Classifying samples… {i:,} of {n:,}"))
        bar.empty()
        st.rerun(scope="app")  # the Sliders tab offers the Classes family now
    found = explorer.class_directions()
    classes = len(found.normals)
    chosen = st.multiselect("Classes with a slider", list(range(classes)), default=[7], key="cls-classes")
    conditional = st.toggle(
        "Conditional: keep the other chosen classes' scores fixed",
        key="cls-conditional",
        help="Each class's direction has its components along the other chosen classes' directions removed.",
    )
    if not chosen:
        st.info("Choose at least one class.")
        return
    move = torch.zeros(explorer.z_dim)
    columns = st.columns(min(len(chosen), 4))
    for i, c in enumerate(chosen):
        try:
            direction = conditional_direction(found.normals, c, chosen) if conditional else found.normals[c]
        except ValueError as err:
            st.error(f"Class {c}: {err}; turn Conditional off or choose fewer classes.")
            return
        amount = columns[i % len(columns)].slider(
            f"toward class {c} (σ)", -CLASS_SPAN, CLASS_SPAN, 0.0, 0.5, key=f"cls-amount-{c}"
        )
        move += amount * direction
    z = seeded_z(int(st.session_state.get("cls-seed", 0)), HISTOGRAM_SAMPLES, explorer.z_dim)
    moved = z + move
    left, right = st.columns([2, 3])
    left.image(explorer.image(moved[:PREVIEW_SAMPLES], columns=4), caption="16 samples, moved", output_format="PNG")
    before = _histogram(explorer, classifier.model, z, classes)
    after = _histogram(explorer, classifier.model, moved, classes)
    right.plotly_chart(_histogram_chart(before, after), key="cls-histogram")
    right.caption(
        f"Predicted classes of the same {HISTOGRAM_SAMPLES} samples before and after the move, as the classifier "
        f"reads them. Boundary fitted on {found.samples:,} samples; it puts "
        + ", ".join(f"{found.accuracy[c]:.0%}" for c in chosen)
        + " of them on the right side (50% would be no boundary at all)."
    )


def _histogram(explorer: Explorer, model, z: torch.Tensor, classes: int) -> torch.Tensor:
    # Drawn as the page draws (ψ and batch norm), so the histogram describes the images shown.
    probs = classify(model, explorer.draw(z))[1]
    return torch.bincount(probs.argmax(1), minlength=classes).float() / len(z)


def _histogram_chart(before: torch.Tensor, after: torch.Tensor) -> go.Figure:
    classes = [str(c) for c in range(len(before))]
    fig = go.Figure(
        [
            go.Bar(x=classes, y=before.tolist(), name="before", marker_color="#9aa5b1"),
            go.Bar(x=classes, y=after.tolist(), name="after the move", marker_color="#d6336c"),
        ]
    )
    fig.update_layout(
        barmode="group",
        height=300,
        margin=dict(l=10, r=10, t=30, b=10),
        yaxis=dict(title="share of samples", tickformat=".0%"),
        xaxis=dict(title="predicted class"),
        legend=dict(orientation="h", y=1.1),
    )
    return fig
