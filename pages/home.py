"""Home: what each page does, samples from a shipped generator, and the device training would use."""
import streamlit as st

st.title("DCGAN Studio")
st.markdown(
    "Train a **Deep Convolutional GAN** (Radford, Metz & Chintala, 2015), watch it learn, and explore what it learned.\n\n"
    "- **Train** — pick a dataset (the built-in street digits work offline; SVHN, MNIST, Fashion-MNIST, CIFAR-10 "
    "or a folder of images such as CelebA faces), start a run in the background and watch its losses and samples "
    "live. Runs keep going when you leave the page or close the tab, and can be stopped, resumed and compared.\n"
)

import torch  # noqa: E402  (after the text, so the page shows something while torch loads)

from dcgan.checkpoint import CheckpointError, load_generator, shipped_generators  # noqa: E402
from dcgan.datasets import image_grid  # noqa: E402
from dcgan.devices import available_devices, device_label, resolve_device  # noqa: E402

device = resolve_device("auto")
gpu_note = "" if device.type != "cpu" else " — no GPU found; training runs on the CPU (about 800 images/s here)"
st.markdown(f"**Device:** {device_label(device)}{gpu_note}")


@st.cache_resource
def _generator(path: str):
    return load_generator(path)


@st.cache_data(max_entries=16)
def _sample_grid(path: str, seed: int, count: int = 36):
    G, meta = _generator(path)
    z = torch.randn(count, G.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return image_grid(G(z))


shipped = shipped_generators()
if shipped:
    st.subheader("Samples from a shipped generator")
    names = [g["name"] for g in shipped]
    left, right = st.columns([1, 3])
    with left:
        chosen = st.selectbox("Generator", names, key="home-generator")
        if st.button("New samples", key="home-new-samples"):
            st.session_state["home-seed"] = st.session_state.get("home-seed", 0) + 1
        generator = shipped[names.index(chosen)]
        st.caption(f"`checkpoints/{generator['path'].name}` — new random z each click, no training needed.")
    with right:
        try:
            grid = _sample_grid(str(generator["path"]), st.session_state.get("home-seed", 0))
            st.image(grid, width=480, caption=f"36 random samples from {chosen}",
                     output_format="PNG")
        except CheckpointError as err:
            st.error(f"Could not load {generator['path'].name}: {err}")
else:
    st.info("No shipped generators in checkpoints/; train one on the Train page.")

if "cuda" not in available_devices():
    st.caption("A GPU (CUDA) makes training 10–100× faster; the app uses one automatically when present.")
