"""Home: what each page does, samples from a shipped generator, and the hardware training would use.

It draws without importing torch (2 s of the app's cold start): the grid first shown is the shipped
generator's own sample grid; "New samples" then loads the generator and draws fresh ones.
"""

import streamlit as st

from dcgan.hardware import describe_hardware
from dcgan.runs.catalog import shipped_generators
from ui.shell import require_shell

require_shell()

st.title("DCGAN Studio")
st.markdown(
    "Train a **Deep Convolutional GAN** (Radford, Metz & Chintala, 2015), watch it learn, and explore what it "
    "learned.\n\n"
    "- **Train** — pick a dataset (the built-in street digits work offline; SVHN, MNIST, Fashion-MNIST, CIFAR-10 "
    "or a folder of images such as CelebA faces), start a run in the background and watch its losses and samples "
    "live. Runs keep going when you leave the page or close the tab, and can be stopped, resumed and compared.\n"
    "- **Batch-norm lab** — the batch-normalization lesson: identical networks with and without batch norm "
    "(your activation, learning rate, starting weights and iterations), the lesson's whole table in one batched run, "
    "why inference needs population statistics, and DCGAN trained with and without batch norm side by side.\n"
    "- **Latent explorer** — load a shipped generator, a run's or your own file; slide latent dimensions and "
    "principal directions, interpolate between samples (and download the GIF), do vector arithmetic on concepts, "
    "or find the z of an uploaded picture.\n"
)
st.markdown(f"**Device:** {describe_hardware()}")


@st.cache_resource(show_spinner=False)
def _generator(path: str):
    from dcgan.runs.generator_file import load_generator

    return load_generator(path)


@st.cache_data(max_entries=16, show_spinner="Drawing samples…")
def _sample_grid(path: str, seed: int, count: int = 64):
    import torch

    from dcgan.images import image_grid
    from dcgan.models import seeded_z

    G, meta = _generator(path)
    z = seeded_z(seed, count, G.cfg.z_dim)
    with torch.no_grad():
        return image_grid(G(z))


def _new_seed(last: int | None) -> int:
    """A fresh random seed for each press. Not a count from 1: a shipped generator's grid is its training run's
    fixed batch, seeded_z(seed) with the run's seed (1 for the shipped ones), so the first press showed that
    same batch again; a random seed is never the last one, nor a small one a run is likely to have used."""
    import secrets

    seed = last
    while seed is None or seed == last or seed < 1000:
        seed = secrets.randbelow(2**31)
    return seed


shipped = shipped_generators()
if shipped:
    st.subheader("Samples from a shipped generator")
    names = [g["name"] for g in shipped]
    left, right = st.columns([1, 3])
    with left:
        chosen = st.selectbox("Generator", names, key="home-generator")
        if st.button("New samples", key="home-new-samples", help="Fresh random z, drawn by the generator now."):
            st.session_state["home-seed"] = _new_seed(st.session_state.get("home-seed"))
        generator = shipped[names.index(chosen)]
        st.caption(f"`checkpoints/{generator['path'].name}`: explore it without training anything.")
    with right:
        seed = st.session_state.get("home-seed")
        if seed is None and not generator["grid"]:  # no saved grid to show first: draw one, kept for the session
            seed = st.session_state["home-seed"] = _new_seed(None)
        if seed is None:
            st.image(str(generator["grid"]), width=480, caption=f"{chosen}: its fixed latent batch")
        else:
            from dcgan.errors import CheckpointError

            try:
                st.image(
                    _sample_grid(str(generator["path"]), seed),
                    width=480,
                    output_format="PNG",
                    caption=f"{chosen}: 64 new random samples",
                )
            except CheckpointError as err:
                st.error(f"Could not load {generator['path'].name}: {err}")
else:
    st.info("No shipped generators in checkpoints/; train one on the Train page.")
