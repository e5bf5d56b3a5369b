"""Exported generators (generator.pt): the generator alone with its settings, what the latent explorer,
the Home page and `sample` load.

Generator files arrive as uploads, so nothing in one is trusted until checked, cheapest first: the
container and format (checkpoint.load_tagged), the settings (bounded by ModelConfig.validate), the
tensors' names, shapes and dtypes against a generator built on the meta device (which allocates
nothing), then their values. Only then is the real network built, and it must draw finite images.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dcgan.config import ModelConfig, section_from_dict
from dcgan.data.loading import DRAWING_KEY
from dcgan.errors import CheckpointError, ConfigError
from dcgan.fileio import atomic_save_torch
from dcgan.models import Generator, seeded_z
from dcgan.runs.checkpoint import (
    GENERATOR_FORMAT,
    MAX_SETTING_CHARS,
    display_name,
    is_a,
    is_plain_setting,
    load_tagged,
    shown_value,
)

LISTED_NAMES = 3  # tensor names listed in a message before "and N more"
CHECK_SAMPLES = 2  # images drawn at load to check that the generator computes finite pixels
EDITED = "the file is damaged or was edited: export it again from its run, or pick another file"
# The dtypes a saved tensor may have, for each dtype the generator holds: weights may be stored at lower
# precision (loading casts them back); batch norm's step counter is an integer.
ACCEPTED_DTYPES = {
    torch.float32: (torch.float32, torch.float16, torch.bfloat16, torch.float64),
    torch.int64: (torch.int64, torch.int32),
}
# Metadata that the explorer, the home page and `sample` show, with the type each must have when present.
METADATA_TYPES = {"step": int, "dataset": str, "run": str, "epochs": (int, float), DRAWING_KEY: int}


def export_generator(path: Path, G: Generator, *, step: int, dataset: str, extra: dict | None = None) -> None:
    """The generator alone, with its config: what the latent explorer and `sample` load."""
    atomic_save_torch(
        path,
        {
            "format": GENERATOR_FORMAT,
            "model": {k: getattr(G.cfg, k) for k in ModelConfig.__dataclass_fields__},
            "state_dict": {k: v.detach().cpu() for k, v in G.state_dict().items()},
            "step": step,
            "dataset": dataset,
            **(extra or {}),
        },
    )


def load_generator(source, device: str | torch.device = "cpu", *, name: str | None = None) -> tuple[Generator, dict]:
    """(Generator in eval mode, the file's metadata); `source` is a path or an open binary file, `name` what
    messages call it (an upload's file name). Everything is checked before the network is built."""
    name = display_name(source, name)
    obj = load_tagged(source, GENERATOR_FORMAT, name)
    cfg = _generator_config(obj.get("model"), name)
    _check_weights(obj.get("state_dict"), cfg, name)
    _check_metadata(obj, name)
    G = Generator(cfg)
    try:
        G.load_state_dict(obj["state_dict"])
    except RuntimeError as err:  # not expected after the checks above; still the file's fault, not a crash
        detail = (str(err).splitlines() or ["RuntimeError"])[0]
        raise CheckpointError(f"{name} does not fit its own model settings ({detail}): {EDITED}") from None
    G.eval()
    _check_draws_finite_images(G, name)
    meta = {k: v for k, v in obj.items() if k != "state_dict"}
    meta["model"] = {k: getattr(cfg, k) for k in ModelConfig.__dataclass_fields__}  # checked, widths resolved
    return G.to(device), meta


def _generator_config(raw, name: str) -> ModelConfig:
    """The file's model settings, checked against ModelConfig's bounds (which cap every width and z)."""
    _check_setting_values(raw, name)
    try:
        cfg = section_from_dict(ModelConfig, raw, "model").resolved()
        cfg.validate()
    except ConfigError as err:
        raise CheckpointError(f"{name} has model settings that cannot build a generator ({err}): {EDITED}") from None
    return cfg


def _check_setting_values(raw, name: str) -> None:
    """Only short names and plain values reach section_from_dict, whose messages quote them: str() of a huge
    number or a deeply nested dict can fail or fill the screen."""
    if raw is None:
        raise CheckpointError(f"{name} has no 'model' settings: {EDITED}")
    if not isinstance(raw, dict):
        raise CheckpointError(
            f"{name} holds {shown_value(raw)} as its 'model' settings, where a dict belongs: {EDITED}"
        )
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > MAX_SETTING_CHARS:
            raise CheckpointError(
                f"{name} has a model setting named {shown_value(key)}, which DCGAN Studio does not have: {EDITED}"
            )
        if not is_plain_setting(value):
            raise CheckpointError(
                f"{name} holds {shown_value(value)} as model setting {key!r}, where a number, "
                f"true/false or a short word belongs: {EDITED}"
            )


def _expected_tensors(cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The generator's state_dict on the meta device: every name, shape and dtype, without allocating memory
    (a 1.5 MB file once claimed a width that made the real network take 5.5 GB)."""
    with torch.device("meta"):
        return Generator(cfg).state_dict()


def _names(keys: list) -> str:
    """Up to LISTED_NAMES of `keys`, quoted, then how many more."""
    shown = ", ".join(shown_value(k) for k in keys[:LISTED_NAMES])
    return shown + (f" and {len(keys) - LISTED_NAMES} more" if len(keys) > LISTED_NAMES else "")


def _check_weights(state, cfg: ModelConfig, name: str) -> None:
    """Every tensor the generator needs, with its shape, an accepted dtype and finite values; nothing else."""
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{name} holds {shown_value(state)} as its 'state_dict', where a dict of weights belongs: {EDITED}"
        )
    expected = _expected_tensors(cfg)
    settings = f"{cfg.image_size} px, z of {cfg.z_dim}, width {cfg.g_width}"
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        found = [f"it lacks weights {_names(missing)}"] if missing else []
        found += [f"it has weights {_names(unexpected)} that do not belong"] if unexpected else []
        raise CheckpointError(
            f"{name} does not match its own model settings ({settings}): {'; '.join(found)}; {EDITED}"
        )
    for key, want in expected.items():
        _check_tensor(state[key], want, key, settings, name)


def _check_tensor(value, want: torch.Tensor, key: str, settings: str, name: str) -> None:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.device.type != "cpu":
        raise CheckpointError(
            f"{name} holds {shown_value(value)} as weight {key!r}, where a plain tensor belongs: {EDITED}"
        )
    if value.shape != want.shape:
        raise CheckpointError(
            f"{name} does not match its own model settings ({settings}): weight {key!r} has shape "
            f"{tuple(value.shape)} where they need {tuple(want.shape)}; {EDITED}"
        )
    accepted = ACCEPTED_DTYPES.get(want.dtype, (want.dtype,))
    if value.dtype not in accepted:
        raise CheckpointError(
            f"{name} holds weight {key!r} as {value.dtype}, where one of "
            f"{', '.join(str(d) for d in accepted)} belongs; {EDITED}"
        )
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise CheckpointError(
            f"{name} has NaN or infinite values in weight {key!r}: it is damaged, or its training "
            "diverged before it was saved; pick another generator, or retrain with a lower "
            "learning rate"
        )


def _check_metadata(obj: dict, name: str) -> None:
    """What the pages print from a generator file must be what they expect (a number, a name)."""
    for key, kind in METADATA_TYPES.items():
        if key in obj and not is_a(obj[key], kind):
            raise CheckpointError(
                f"{name} holds {shown_value(obj[key])} as its {key!r}, where a "
                f"{'number' if kind is not str else 'name'} belongs: {EDITED}"
            )


@torch.no_grad()
def _check_draws_finite_images(G: Generator, name: str) -> None:
    """Finite weights can still overflow (weights of 1e30 multiply past float32's range) or divide by a
    negative batch-norm variance: draw a couple of images, so that `sample` never writes NaN pictures and the
    explorer's PCA never meets them."""
    z = seeded_z(0, CHECK_SAMPLES, G.cfg.z_dim)
    if not torch.isfinite(G(z)).all():
        raise CheckpointError(
            f"{name} draws images with NaN or infinite pixels: its weights or batch-norm "
            "statistics are out of range, so pick another generator or retrain it"
        )
