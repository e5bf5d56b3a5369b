"""Inference mode: why batch norm needs population statistics once a network is trained."""

from __future__ import annotations

import streamlit as st

from dcgan.bnlab.experiment import LabConfig, train_pair
from dcgan.bnlab.inference_demo import generator_in_batches, one_at_a_time
from dcgan.images import image_grid, upscale
from dcgan.runs.catalog import shipped_generators
from dcgan.runs.generator_file import load_generator
from ui import lab_views

DEMO_EXAMPLES = 500  # test examples fed one at a time


@st.cache_resource(show_spinner="Training a quick batch-norm network (300 iterations)…")
def _quick_networks():
    return train_pair(LabConfig(iterations=300, eval_every=300), lab_views.lab_data())[1]


@st.cache_resource(show_spinner=False)
def _shipped_generator(path: str):
    return load_generator(path)[0]


def _one_at_a_time_scores(nets) -> dict[str, float]:
    """Once per trained pair: 1,000 single-example passes take a second or two, and every rerun of the page
    (a click in any tab, a lab job ending) would repeat them."""
    cached = st.session_state.get("bn-inference-scores")
    if cached is None or cached[0] is not nets:
        data = lab_views.lab_data()
        cached = (nets, one_at_a_time(nets, data.test_x[:DEMO_EXAMPLES], data.test_y[:DEMO_EXAMPLES]))
        st.session_state["bn-inference-scores"] = cached
    return cached[1]


def inference_tab(pair_job) -> None:
    st.markdown(
        "**1. A trained batch-norm network, fed one example at a time.** In training mode batch norm "
        "normalises with the batch's own mean and variance: for a batch of one, every unit becomes 0 and "
        "every example gets the same answer. Eval mode uses the population statistics kept while training."
    )
    nets = pair_job.result[1] if pair_job is not None and pair_job.result else None
    if nets is None:
        st.caption("Uses the pair from *A pair* once one has trained; until then, a quick one.")
        if not st.button("Train a quick pair and run the demo", key="bn-inference-quick"):
            return
        nets = _quick_networks()
    scores = _one_at_a_time_scores(nets)
    for col, (label, value) in zip(st.columns(3), scores.items()):
        col.metric(label, f"{value:.3f}")

    st.markdown("**2. A DCGAN generator: one z, drawn alone and inside three different batches.**")
    shipped = shipped_generators()
    if not shipped:
        return
    G = _shipped_generator(str(shipped[0]["path"]))
    images = generator_in_batches(G, seed=int(st.number_input("z seed", 0, 10_000, 0, key="bn-inference-seed")))
    scale = max(1, 96 // G.cfg.image_size)
    for mode, caption in (
        (
            "training mode",
            "training mode (batch statistics): the same z changes with its neighbours, and alone it is wiped out",
        ),
        ("eval mode", "eval mode (running statistics): the same image every time"),
    ):
        st.image(
            image_grid(upscale(images[mode], scale), columns=len(images[mode])),
            output_format="PNG",
            caption=f"alone, in batch 1, in batch 2, in batch 3 — {caption}",
        )
