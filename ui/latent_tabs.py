"""The latent explorer's tabs. Each is a fragment: moving a slider re-runs only its own tab."""

from __future__ import annotations

import random

import streamlit as st
import torch

from dcgan.images import gif_bytes, image_grid, png_bytes, upscale
from dcgan.latent.explore import (
    concept_arithmetic,
    interpolate,
    interpolation_grid,
    keyframe_walk,
    neighbours,
)
from dcgan.latent.numbered import numbered_grid
from dcgan.latent.projection import ProjectionConfig, discriminator_beside, project, target_from_file
from dcgan.models import seeded_z
from ui.latent_common import DISPLAY_PX, SECTION_KEY, Explorer, load_into_sliders, set_base
from ui.latent_common import download as _download
from ui.latent_directions import direction_family_sliders, direction_tools

PICK_GRID = 16  # samples in the grids people pick endpoints or concepts from
ARITH_GRID = 36
SECTIONS = (
    "Sliders",
    "Class directions",
    "Truncation",
    "Map",
    "Memorisation",
    "Batch norm",
    "Interpolation",
    "Arithmetic",
    "Projection",
)
SLIDERS_HEIGHT = 420  # px: the sliders scroll inside a box this tall, beside the image, which stays in view
__all__ = ["SECTION_KEY", "SECTIONS", "SLIDERS_HEIGHT", "Explorer", "load_into_sliders"]


def _numbered(explorer: Explorer, seed: int, count: int, columns: int) -> torch.Tensor:
    """Show `count` samples for `seed`, each with its number drawn under it (1 first, left to right, top to
    bottom, as the pickers count); returns their z."""
    z = seeded_z(seed, count, explorer.z_dim)
    image = numbered_grid(explorer.draw(z), columns, scale=max(1, 64 // explorer.G.cfg.image_size))
    st.image(image, caption=f"samples 1 to {count}: click their numbers to pick them", output_format="PNG")
    return z


def _pick(where, label: str, count: int, key: str, default, multi: bool = False):
    """Samples picked by clicking their numbers (pills: "7" is one button, never also 17 and 27)."""
    return where.pills(
        label,
        range(1, count + 1),
        selection_mode="multi" if multi else "single",
        default=default,
        required=not multi,  # a walk always has both ends; a concept may be emptied (and the page says so)
        wrap=True,  # all the numbers in view, in rows, instead of a strip that scrolls sideways
        key=key,
    )


# -- sliders ------------------------------------------------------------------------------------------
def _random_seed() -> None:
    st.session_state["lat-seed"] = random.randrange(2**31)


@st.fragment
def sliders_tab(explorer: Explorer) -> None:
    span = explorer.config.slider_range
    base = st.session_state.get("lat-base")
    if base is not None and base[0].numel() != explorer.z_dim:  # another generator, another z size: start again
        base = st.session_state["lat-base"] = None
        st.session_state["lat-seed"] = st.session_state.get("lat-seed") or 0
    st.session_state.setdefault("lat-seed", 0)  # here, not as value=: a value and Session State both warn
    seed_col, new_col, reset_col = st.columns([2, 1, 1], vertical_alignment="bottom")
    seed = seed_col.number_input(
        "Seed",
        0,
        2**31 - 1,
        value=None,
        key="lat-seed",
        placeholder=f"{base[1]}: type a seed for a new sample" if base else "type a seed",
        help="Each seed is one z. Empty while the sliders hold a z that no seed gives (a projected picture).",
    )
    new_col.button("New sample", key="lat-new", on_click=_random_seed)
    # A new seed (typed or drawn) starts a new sample; a projected z stays until then.
    if base is None or (seed is not None and seed != st.session_state.get("lat-base-seed")):
        seed = 0 if seed is None else int(seed)
        set_base(seeded_z(seed, 1, explorer.z_dim)[0], f"seed {seed}")
        st.session_state["lat-base-seed"] = seed
    if reset_col.button("Reset sliders", key="lat-reset"):
        st.session_state["lat-version"] = st.session_state.get("lat-version", 0) + 1
    z0, label = st.session_state["lat-base"]
    version = st.session_state["lat-version"]

    dims = st.multiselect(
        "Latent dimensions with a slider",
        list(range(explorer.z_dim)),
        default=list(range(min(6, explorer.z_dim))),
        key="lat-dims",
    )
    # The sliders scroll in a box of fixed height beside the image, so the image stays in view while the lower
    # ones move (in one long column the page scrolled it away).
    left, right = st.columns([3, 2])
    with left, st.container(height=SLIDERS_HEIGHT, key="lat-slider-box"):
        z = z0.clone()
        columns = st.columns(2)
        for i, d in enumerate(dims):
            z[d] = columns[i % 2].slider(
                f"z[{d}]", -span, span, float(z0[d].clamp(-span, span)), 0.05, key=f"lat-dim-{version}-{d}"
            )
        z += direction_family_sliders(explorer, span, version)
    with right:
        image = explorer.image(z[None])
        st.image(image, caption=f"{label}, moved by the sliders", output_format="PNG")
        _download("Download PNG", png_bytes(image), f"{label.replace(' ', '-')}.png", "image/png", "lat-png")
    st.session_state["lat-current"] = z
    direction_tools(explorer, z)


# -- interpolation ------------------------------------------------------------------------------------
@st.fragment
def interpolation_tab(explorer: Explorer) -> None:
    kind = st.radio(
        "Walk",
        [
            "Between two seeds",
            "Between two samples from a grid",
            "A loop through several seeds",
            "Grid of walks (DCGAN paper, figure 4)",
        ],
        key="int-kind",
        horizontal=True,
    )
    c1, c2, c3 = st.columns(3)
    steps = c1.slider("Steps", 2, 48, 12, key="int-steps")
    mode = c2.radio(
        "Path",
        ["slerp", "lerp"],
        key="int-mode",
        horizontal=True,
        help="slerp follows the sphere Gaussian latents live on (White 2016); lerp the straight line.",
    )
    frame_ms = c3.slider("Frame time (ms)", 30, 500, 90, 10, key="int-ms")
    if kind == "Between two seeds":
        a_col, b_col = st.columns(2)
        ends = (
            seeded_z(int(a_col.number_input("Seed A", 0, 2**31 - 1, 1, key="int-a")), 1, explorer.z_dim)[0],
            seeded_z(int(b_col.number_input("Seed B", 0, 2**31 - 1, 2, key="int-b")), 1, explorer.z_dim)[0],
        )
        path, columns = interpolate(*ends, steps, mode), steps
    elif kind == "Between two samples from a grid":
        grid_col, pick_col = st.columns([2, 3])
        with grid_col:
            grid_seed = st.number_input("Grid seed", 0, 2**31 - 1, 0, key="int-grid-seed")
            z = _numbered(explorer, grid_seed, PICK_GRID, columns=4)
        a = _pick(pick_col, "From sample", PICK_GRID, "int-pick-a", 1)
        b = _pick(pick_col, "To sample", PICK_GRID, "int-pick-b", 6)
        path, columns = interpolate(z[a - 1], z[b - 1], steps, mode), steps
    elif kind == "A loop through several seeds":
        text = st.text_input("Seeds to visit, in order", "1, 2, 3, 4", key="int-seeds")
        try:
            seeds = [int(s) for s in text.replace(",", " ").split()]
        except ValueError:
            st.error("Write the seeds as whole numbers separated by commas, e.g. 1, 2, 3")
            return
        if len(seeds) < 2:
            st.error("A loop needs at least two seeds.")
            return
        keys = torch.stack([seeded_z(s, 1, explorer.z_dim)[0] for s in seeds])
        path, columns = keyframe_walk(keys, steps, mode, loop=True), steps
    else:
        rows = st.slider("Rows", 2, 10, 6, key="int-rows")
        path, columns = (
            interpolation_grid(explorer.z_dim, rows, steps, int(st.session_state.get("int-grid-seed", 0)), mode),
            steps,
        )
    frames = explorer.draw(path)
    strip = image_grid(upscale(frames, 2), columns=columns)
    st.image(strip, caption=f"{len(frames)} frames ({mode})", output_format="PNG")
    gif = gif_bytes(
        frames, frame_ms=frame_ms, scale=max(1, 192 // explorer.G.cfg.image_size), bounce=kind.startswith("Between")
    )
    st.image(gif, caption="As an animation")
    d1, d2, _ = st.columns([1, 1, 3])
    with d1:
        _download("Download GIF", gif, "interpolation.gif", "image/gif", "int-gif")
    with d2:
        _download("Download PNG strip", png_bytes(strip), "interpolation.png", "image/png", "int-png")


# -- arithmetic ---------------------------------------------------------------------------------------
@st.fragment
def arithmetic_tab(explorer: Explorer) -> None:
    st.markdown("Pick a few samples for each concept: **A − B + C**, averaged per concept (DCGAN paper, figure 7).")
    grid_col, pick_col = st.columns([2, 3])
    with grid_col:
        grid_seed = st.number_input("Grid seed", 0, 2**31 - 1, 0, key="ari-seed")
        z = _numbered(explorer, grid_seed, ARITH_GRID, columns=6)
    picks = {
        name: _pick(pick_col, name, ARITH_GRID, f"ari-{name}", default, multi=True)
        for name, default in zip("ABC", ([1, 2], [3], [4]))
    }
    if not all(picks.values()):
        st.error("Choose at least one sample for each of A, B and C.")
        return
    chosen = {name: z[[i - 1 for i in picks[name]]] for name in "ABC"}
    result = concept_arithmetic(chosen["A"], chosen["B"], chosen["C"])
    cols = st.columns(4)
    for col, name in zip(cols, "ABC"):
        col.image(explorer.image(chosen[name].mean(0, keepdim=True)), caption=f"mean of {name}", output_format="PNG")
    around = neighbours(result, 9, noise_std=0.25)
    image = explorer.image(around, columns=3)
    cols[3].image(image, caption="A − B + C (top left) and neighbours", output_format="PNG")
    _download("Download PNG", png_bytes(image), "arithmetic.png", "image/png", "ari-png")


# -- projection ---------------------------------------------------------------------------------------
@st.fragment
def projection_tab(explorer: Explorer) -> None:
    st.markdown("Upload a picture: gradient descent finds the z whose image is closest to it.")
    upload = st.file_uploader("Picture", type=["png", "jpg", "jpeg", "bmp", "webp"], key="proj-upload")
    steps = st.slider("Optimisation steps", 50, 1000, 200, 50, key="proj-steps")
    if not upload:
        return
    cfg = explorer.G.cfg
    try:
        target = target_from_file(upload, cfg.image_size, cfg.channels)
    except ValueError as err:  # UnreadableImage: names the file and says why (not an image, damaged, too large)
        st.error(str(err))
        return
    if st.button("Find z", key="proj-run", type="primary"):
        bar = st.progress(0.0, text="Searching…")
        D = discriminator_beside(explorer.key.split("@")[0]) if "@" in explorer.key else None
        try:
            found = project(
                explorer.G,
                target,
                D,
                ProjectionConfig(steps=steps),
                progress=lambda i, n: bar.progress(i / n, text=f"Searching… step {i} of {n}"),
            )
        except RuntimeError as err:  # torch's failures (out of memory on a GPU, say): a message, not a traceback
            st.error(
                f"The search for z stopped: {(str(err).splitlines() or ['RuntimeError'])[0]}. "
                "Try fewer steps, or another generator."
            )
            return
        finally:
            bar.empty()
        st.session_state["proj-result"] = (upload.file_id, found)
    result = st.session_state.get("proj-result")
    if result and result[0] == upload.file_id:
        found = result[1]
        scale = max(1, DISPLAY_PX // cfg.image_size) // 2
        c1, c2 = st.columns(2)
        c1.image(
            image_grid(upscale(target[None], scale)), caption="your picture (cropped, resized)", output_format="PNG"
        )
        c2.image(
            image_grid(upscale(found.image[None], scale)),
            output_format="PNG",
            caption=f"closest G(z): mean squared error {found.pixel_error:.3f}",
        )
        st.caption(
            "Distance: pixels plus "
            + (
                "the run's discriminator features."
                if found.used_discriminator
                else "pixels at coarser scales (this generator file has no discriminator beside it)."
            )
        )
        pair = image_grid(upscale(torch.stack([target, found.image]), scale), columns=2)
        _download("Download PNG (picture, reconstruction)", png_bytes(pair), "projection.png", "image/png", "proj-png")
        if st.button(
            "Move this z with the sliders",
            key="proj-to-sliders",
            help="Opens the Sliders tab on this z; a seed typed in its seed box starts a new sample again.",
            on_click=load_into_sliders,
            args=(found.z, "projected picture"),
        ):
            st.rerun(scope="app")  # the tabs and the Sliders tab (outside this fragment) redraw: Sliders open
