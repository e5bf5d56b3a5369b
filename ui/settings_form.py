"""The Train page's form: one widget per setting people change, opening on the dataset's preset."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dcgan.config import field_index
from dcgan.config_help import field_help
from dcgan.data.presets import DATASET_PRESETS
from dcgan.data.registry import REGISTRY
from dcgan.devices import available_devices
from ui.gpu_choice import processes_choice

DATASET_LABELS = {name: info.choice for name, info in REGISTRY.items()}


@dataclass
class Setting:
    name: str  # the RunConfig field (flat name)
    label: str
    kind: str = "number"  # number | choice | toggle | text
    options: tuple = ()  # for kind "choice"
    step: float | None = None
    fmt: str | None = None
    help: str | None = None


SETTINGS = (
    (
        "Data and model",
        (
            Setting("image_size", "Image size (px)", "choice", (16, 32, 64, 128)),
            Setting("channels", "Colour", "choice", (3, 1), help="3 = RGB, 1 = grayscale"),
            Setting("z_dim", "z size", step=1, help="Length of the latent vector z (the paper: 100)."),
            Setting(
                "g_width",
                "Generator width",
                step=8,
                help="Channels of G's last hidden layer; 0 = 32 up to 32 px, else 64.",
            ),
            Setting("d_width", "Discriminator width", step=8, help="Channels after D's first conv; 0 = as G."),
            Setting("g_batchnorm", "Batch norm in G", "toggle"),
            Setting("d_batchnorm", "Batch norm in D", "toggle"),
            Setting(
                "limit", "Use at most N images", step=100, help="0 = the whole training set; fewer for a quick try."
            ),
        ),
    ),
    (
        "Training",
        (
            Setting("epochs", "Epochs", step=1),
            Setting("batch_size", "Batch size", step=16),
            Setting("lr", "Learning rate", step=1e-4, fmt="%g", help="Adam, for both networks (the paper: 0.0002)."),
            Setting("beta1", "Adam beta1", step=0.05, fmt="%.2f", help="The paper: 0.5; 0.9 makes DCGAN unstable."),
            Setting(
                "label_smoothing",
                "Label smoothing",
                step=0.05,
                fmt="%.2f",
                help="0.1 makes the real label 0.9 (the lesson's trick).",
            ),
            Setting(
                "sample_every",
                "Sample grid every N steps",
                step=50,
                help="Besides epoch ends; 0 = about every 30 s.",
            ),
            Setting(
                "score_samples",
                "Quality score: images",
                step=500,
                help="Generated images scored by a digit classifier (Fréchet distance, class spread) at each "
                "epoch's end, on labelled datasets; 0 = off.",
            ),
            Setting(
                "score_every",
                "Quality score every N steps",
                step=100,
                help="Besides every epoch's end; 0 = epoch ends only. Each score takes ~1 s on a CPU.",
            ),
        ),
    ),
    (
        "GAN hacks (each off at its default; the help says why people use it)",
        tuple(
            Setting(name, label, step=step, fmt=fmt, help=field_help().get(name))
            for name, label, step, fmt in (
                ("d_steps", "D steps per G step", 1, None),
                ("lr_g", "G learning rate (TTUR; 0 = lr)", 1e-4, "%g"),
                ("lr_d", "D learning rate (TTUR; 0 = lr)", 1e-4, "%g"),
                ("label_flip", "Label flip probability", 0.01, "%.2f"),
                ("instance_noise", "Instance noise std", 0.05, "%.2f"),
                ("instance_noise_epochs", "Noise fades to 0 over (epochs)", 0.5, "%g"),
                ("ema_half_life", "EMA of G: half-life (images)", 1000, None),
            )
        ),
    ),
    (
        "Run",
        (
            Setting("device", "Device", "choice"),
            Setting("seed", "Seed", step=1),
            Setting("name", "Run name", "text", help="Empty = dataset and time. Letters, digits, '.', '_', '-'."),
        ),
    ),
)


def settings_form(dataset: str) -> dict | None:
    """Draw the form for `dataset`; the flat settings when Start is pressed (with `processes`, the GPUs to train on,
    which is not a setting of the run), else None."""
    fields = field_index()
    preset = DATASET_PRESETS[dataset]
    values = {}
    with st.form(f"settings:{dataset}", border=True):
        for section, settings in SETTINGS:
            st.markdown(f"**{section}**")
            columns = st.columns(4)
            for i, setting in enumerate(settings):
                default = preset.get(setting.name, fields[setting.name][1].default)
                with columns[i % 4]:
                    values[setting.name] = _widget(setting, default, key=f"{dataset}:{setting.name}")
        processes = processes_choice(f"{dataset}:processes")  # drawn only with several GPUs (ui/gpu_choice.py)
        started = st.form_submit_button("Start training", type="primary")
    return {**values, "processes": processes} if started else None


def _widget(setting: Setting, default, key: str):
    if setting.kind == "toggle":
        return st.toggle(setting.label, value=default, key=key, help=setting.help)
    if setting.kind == "text":
        return st.text_input(setting.label, value=default, key=key, help=setting.help).strip()
    if setting.kind == "choice":
        options = setting.options or _device_options()
        return st.selectbox(
            setting.label,
            options,
            index=options.index(default) if default in options else 0,
            key=key,
            help=setting.help,
            format_func=_device_label if setting.name == "device" else str,
        )
    # Limits are left to the engine's checks, which say what is wrong (lr 0, batch 0...) in an st.error.
    return st.number_input(
        setting.label,
        value=default,
        step=setting.step if isinstance(default, float) else int(setting.step or 1),
        format=setting.fmt,
        key=key,
        help=setting.help,
    )


@st.cache_resource
def _device_options() -> tuple:
    return ("auto", *available_devices())


def _device_label(name: str) -> str:
    if name == "auto":
        return f"auto ({available_devices()[0]})"
    return {"cuda": "cuda (GPU)", "mps": "mps (Apple GPU)", "cpu": "cpu"}.get(name, name)
