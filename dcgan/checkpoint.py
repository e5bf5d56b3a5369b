"""Checkpoints and exported generators: plain dicts of tensors, loaded only with weights_only=True.

A pickle can run code when it is loaded; weights_only=True refuses anything but tensors and plain
containers, so an uploaded file cannot execute. Every file carries a `format` tag, checked on load,
so a foreign or damaged file gets a clear error instead of a KeyError deep inside.

Generator files arrive as uploads, so nothing in one is trusted until checked, cheapest first: the
container (a zip of stored records, as torch.save writes), the settings (bounded by ModelConfig.validate),
the tensors' names, shapes and dtypes against a generator built on the meta device (which allocates
nothing), then their values. Only then is the real network built. Every failure is a CheckpointError
whose one-line message names the file, says what is wrong and what to do.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from .config import ConfigError, ModelConfig, RunConfig, section_from_dict
from .fileio import atomic_save_torch
from .models import Generator

CHECKPOINT_FORMAT = "dcgan-studio/checkpoint-v1"
GENERATOR_FORMAT = "dcgan-studio/generator-v1"
FORMAT_NAMES = {CHECKPOINT_FORMAT: "training checkpoint", GENERATOR_FORMAT: "generator"}

ZIP_MAGIC = b"PK\x03\x04"  # torch.save has written zip archives since PyTorch 1.6
SHOWN_CHARS = 60           # a value quoted from a file in a message is cut to this many characters
MAX_SETTING_CHARS = 100    # longest setting name or text a generator file may hold (ours: "upsample", "transpose")
MAX_SETTING_INT = 2**63    # whole numbers in settings must fit 64 bits (Python cannot even print some larger ones)
LISTED_NAMES = 3           # tensor names listed in a message before "and N more"
CHECK_SAMPLES = 2          # images drawn at load to check that the generator computes finite pixels
EDITED = "the file is damaged or was edited: export it again from its run, or pick another file"

# The dtypes a saved tensor may have, for each dtype the generator holds: weights may be stored at lower
# precision (loading casts them back); batch norm's step counter is an integer.
ACCEPTED_DTYPES = {
    torch.float32: (torch.float32, torch.float16, torch.bfloat16, torch.float64),
    torch.int64: (torch.int64, torch.int32),
}
# Metadata that the explorer, the home page and `sample` show, with the type each must have when present.
METADATA_TYPES = {"step": int, "dataset": str, "run": str, "epochs": (int, float)}
# What resuming reads from a checkpoint (trainer._restore): the type each must have, and its name in messages.
CHECKPOINT_FIELDS = {
    "config": (dict, "a dict of settings"), "step": (int, "a whole number"),
    "generator": (dict, "a dict of tensors"), "discriminator": (dict, "a dict of tensors"),
    "opt_generator": (dict, "an optimizer state"), "opt_discriminator": (dict, "an optimizer state"),
    "fixed_z": (torch.Tensor, "a tensor"), "rng": (dict, "a dict of random-number states"),
}


class CheckpointError(ValueError):
    """The file is not one of ours, or is damaged; the message says which file and what is wrong."""


# -- reading any file of ours -------------------------------------------------------------------------
def _display_name(source, name: str | None) -> str:
    """How messages call the file: the name given (an upload's), else the path as given, else the file's name."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "the uploaded file"))


def _short(value) -> str:
    """A value read from a file, for a message: plain values quoted (cut to SHOWN_CHARS), others by type."""
    if value is None or isinstance(value, (str, float)) or _is_plain_setting(value):
        text = repr(value)
        return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
    return "a number too large to show" if isinstance(value, int) else f"a {type(value).__name__}"


def _is_a(value, kind) -> bool:
    """isinstance, except that True and False are not numbers here (bool is a subclass of int)."""
    return isinstance(value, kind) and not isinstance(value, bool)


@contextlib.contextmanager
def _rewound(source):
    """`source` as a binary file, left where it was found: opened (and closed) here when it is a path."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            yield file
        return
    start = source.tell()
    try:
        yield source
    finally:
        source.seek(start)


def _check_container(source, name: str, what: str) -> None:
    """Refuse what torch.save never writes, before torch.load reads it. A file that is not a zip would go
    to torch's reader for the pre-1.6 format, which crashes on a text file (KeyError: 101); a compressed
    record can expand to any size in memory (a zip bomb), while torch's stored records never exceed the file."""
    with _rewound(source) as file:
        if file.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
            raise CheckpointError(f"{name} is not a PyTorch file (those are zip archives), so it is not a {what} "
                                  "saved by DCGAN Studio: pick the .pt file that DCGAN Studio wrote")
        with zipfile.ZipFile(file) as archive:
            records = archive.infolist()
    compressed = next((r.filename for r in records if r.compress_type != zipfile.ZIP_STORED), None)
    if compressed is not None:
        raise CheckpointError(f"{name} is not a {what} saved by DCGAN Studio: its record {_short(compressed)} is "
                              "compressed, which torch.save never does (and it could expand to any size)")


def _refusal_message(err: pickle.UnpicklingError, name: str, what: str) -> str:
    """weights_only refused part of the pickle; torch's message is a page long, so say it in one sentence,
    naming the Python object the file asked for when torch's message says which."""
    asked = re.search(r"GLOBAL ([\w.]+)", str(err))
    if asked:
        return (f"{name} was not loaded: it asks for the Python object {_short(asked.group(1))}, which is not "
                f"allowed to load safely because loading it could run code; a {what} saved by DCGAN Studio holds "
                "only tensors, numbers and text, so load files only from people you trust")
    return (f"{name} is damaged or is not a {what} saved by DCGAN Studio: it holds more than tensors, numbers "
            "and text, so it was not loaded")


def _check_format(obj, expected_format: str, name: str) -> None:
    found = obj.get("format") if isinstance(obj, dict) else None
    if isinstance(found, str) and found == expected_format:
        return
    what = FORMAT_NAMES[expected_format]
    if isinstance(found, str) and found == CHECKPOINT_FORMAT and expected_format == GENERATOR_FORMAT:
        raise CheckpointError(f"{name} is a training checkpoint, not a generator: load the generator.pt in the same "
                              "run folder instead (a run writes it when it finishes or is stopped)")
    if isinstance(found, str) and found in FORMAT_NAMES:
        raise CheckpointError(f"{name} is a {FORMAT_NAMES[found]} of DCGAN Studio, not a {what}")
    shown = f"format {_short(found)}" if isinstance(obj, dict) else _short(obj)
    raise CheckpointError(f"{name} is not a {what} of DCGAN Studio (found {shown}, expected {expected_format!r})")


def _load(source, expected_format: str, name: str) -> dict:
    what = FORMAT_NAMES[expected_format]
    try:
        _check_container(source, name, what)
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except MemoryError:
        raise  # the checks above bound what a file can make torch allocate: this is the machine, not the file
    except FileNotFoundError:
        raise CheckpointError(f"{name} does not exist: check the path") from None
    except OSError as err:
        raise CheckpointError(f"{name} could not be read ({err.strerror or type(err).__name__})") from None
    except pickle.UnpicklingError as err:
        raise CheckpointError(_refusal_message(err, name, what)) from None
    except Exception as err:  # the zip and pickle readers fail on damaged bytes in a dozen ways (fuzzing found them)
        raise CheckpointError(f"{name} is not a readable PyTorch file ({type(err).__name__}): it is damaged or cut "
                              "short, so save or download it again") from None
    _check_format(obj, expected_format, name)
    return obj


def cpu_copy(obj):
    """A snapshot of nested dicts/lists of tensors on the CPU, safe to write while training goes on.

    CUDA tensors are copied without waiting (into pinned memory, reused by PyTorch's host cache):
    whoever reads the copy must first wait for `ready_event()` recorded after this call."""
    if isinstance(obj, torch.Tensor):
        if obj.is_cuda:
            return torch.empty(obj.shape, dtype=obj.dtype, pin_memory=True).copy_(obj.detach(), non_blocking=True)
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def ready_event(device: torch.device):
    """An event that completes when the copies enqueued so far have landed (None off CUDA)."""
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record()
    return event


def checkpoint_state(*, config: RunConfig, G, D, opt_g, opt_d, step: int, fixed_z: torch.Tensor,
                     rng: dict, elapsed_s: float) -> dict:
    """Everything a resume needs, copied to the CPU (so it can be written in the background)."""
    return cpu_copy({
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "step": step,
        "elapsed_s": elapsed_s,            # training time so far, so speed and ETA survive a resume
        "generator": G.state_dict(),
        "discriminator": D.state_dict(),
        "opt_generator": opt_g.state_dict(),
        "opt_discriminator": opt_d.state_dict(),
        "fixed_z": fixed_z.cpu(),
        "rng": rng,                        # {"torch": ByteTensor, "cuda": ByteTensor?}
    })


def save_checkpoint(path: Path, **state) -> None:
    atomic_save_torch(path, checkpoint_state(**state))


def load_checkpoint(path: Path, *, name: str | None = None) -> dict:
    """A training checkpoint, with every field resuming reads present and of the right type."""
    name = _display_name(path, name)
    ckpt = _load(path, CHECKPOINT_FORMAT, name)
    _check_checkpoint_fields(ckpt, name)
    return ckpt


def _check_checkpoint_fields(ckpt: dict, name: str) -> None:
    """Resuming reads these (trainer._restore): a KeyError there would not say which file is at fault."""
    broken = "the checkpoint is damaged or incomplete, so the run cannot resume from it"
    for key, (kind, words) in CHECKPOINT_FIELDS.items():
        if key not in ckpt:
            raise CheckpointError(f"{name} has no {key!r}: {broken}")
        if not _is_a(ckpt[key], kind):
            raise CheckpointError(f"{name} holds {_short(ckpt[key])} as {key!r}, where {words} belongs: {broken}")
    if ckpt["step"] < 0:
        raise CheckpointError(f"{name} says it is at step {ckpt['step']}, below 0: {broken}")
    if not _is_a(ckpt.get("elapsed_s", 0.0), (int, float)):
        raise CheckpointError(f"{name} holds {_short(ckpt['elapsed_s'])} as 'elapsed_s', where a number belongs: "
                              f"{broken}")
    for key in ("generator", "discriminator"):
        bad = next((k for k, v in ckpt[key].items() if not isinstance(v, torch.Tensor)), None)
        if bad is not None:
            raise CheckpointError(f"{name} holds {_short(ckpt[key][bad])} as {key} weight {_short(bad)}, "
                                  f"where a tensor belongs: {broken}")
        bad = next((k for k, v in ckpt[key].items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
        if bad is not None:  # training from it would diverge again at its first step
            raise CheckpointError(f"{name} holds NaN or infinite values in {key} weight {_short(bad)}, so training "
                                  "cannot continue from it")
    rng = ckpt["rng"].get("torch")
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise CheckpointError(f"{name} has no random-number state ('rng' needs a 'torch' byte tensor): {broken}")


def export_generator(path: Path, G: Generator, *, step: int, dataset: str, extra: dict | None = None) -> None:
    """The generator alone, with its config: what the latent explorer and `sample` load."""
    atomic_save_torch(path, {
        "format": GENERATOR_FORMAT,
        "model": {k: getattr(G.cfg, k) for k in ModelConfig.__dataclass_fields__},
        "state_dict": {k: v.detach().cpu() for k, v in G.state_dict().items()},
        "step": step,
        "dataset": dataset,
        **(extra or {}),
    })


def load_generator(source, device: str | torch.device = "cpu", *, name: str | None = None) -> tuple[Generator, dict]:
    """(Generator in eval mode, the file's metadata); `source` is a path or an open binary file, `name` what
    messages call it (an upload's file name). Everything is checked before the network is built."""
    name = _display_name(source, name)
    obj = _load(source, GENERATOR_FORMAT, name)
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


def _is_plain_setting(value) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_SETTING_CHARS
    return isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < MAX_SETTING_INT)


def _check_setting_values(raw, name: str) -> None:
    """Only short names and plain values reach section_from_dict, whose messages quote them: str() of a huge
    number or a deeply nested dict can fail or fill the screen."""
    if raw is None:
        raise CheckpointError(f"{name} has no 'model' settings: {EDITED}")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{name} holds {_short(raw)} as its 'model' settings, where a dict belongs: {EDITED}")
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > MAX_SETTING_CHARS:
            raise CheckpointError(f"{name} has a model setting named {_short(key)}, which DCGAN Studio does not have: "
                                  f"{EDITED}")
        if not _is_plain_setting(value):
            raise CheckpointError(f"{name} holds {_short(value)} as model setting {key!r}, where a number, "
                                  f"true/false or a short word belongs: {EDITED}")


def _expected_tensors(cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The generator's state_dict on the meta device: every name, shape and dtype, without allocating memory
    (a 1.5 MB file once claimed a width that made the real network take 5.5 GB)."""
    with torch.device("meta"):
        return Generator(cfg).state_dict()


def _names(keys: list) -> str:
    """Up to LISTED_NAMES of `keys`, quoted, then how many more."""
    shown = ", ".join(_short(k) for k in keys[:LISTED_NAMES])
    return shown + (f" and {len(keys) - LISTED_NAMES} more" if len(keys) > LISTED_NAMES else "")


def _check_weights(state, cfg: ModelConfig, name: str) -> None:
    """Every tensor the generator needs, with its shape, an accepted dtype and finite values; nothing else."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{name} holds {_short(state)} as its 'state_dict', where a dict of weights belongs: "
                              f"{EDITED}")
    expected = _expected_tensors(cfg)
    settings = f"{cfg.image_size} px, z of {cfg.z_dim}, width {cfg.g_width}"
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        found = [f"it lacks weights {_names(missing)}"] if missing else []
        found += [f"it has weights {_names(unexpected)} that do not belong"] if unexpected else []
        raise CheckpointError(f"{name} does not match its own model settings ({settings}): {'; '.join(found)}; "
                              f"{EDITED}")
    for key, want in expected.items():
        _check_tensor(state[key], want, key, settings, name)


def _check_tensor(value, want: torch.Tensor, key: str, settings: str, name: str) -> None:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.device.type != "cpu":
        raise CheckpointError(f"{name} holds {_short(value)} as weight {key!r}, where a plain tensor belongs: {EDITED}")
    if value.shape != want.shape:
        raise CheckpointError(f"{name} does not match its own model settings ({settings}): weight {key!r} has shape "
                              f"{tuple(value.shape)} where they need {tuple(want.shape)}; {EDITED}")
    accepted = ACCEPTED_DTYPES.get(want.dtype, (want.dtype,))
    if value.dtype not in accepted:
        raise CheckpointError(f"{name} holds weight {key!r} as {value.dtype}, where one of "
                              f"{', '.join(str(d) for d in accepted)} belongs; {EDITED}")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise CheckpointError(f"{name} has NaN or infinite values in weight {key!r}: it is damaged, or its training "
                              "diverged before it was saved; pick another generator, or retrain with a lower "
                              "learning rate")


def _check_metadata(obj: dict, name: str) -> None:
    """What the pages print from a generator file must be what they expect (a number, a name)."""
    for key, kind in METADATA_TYPES.items():
        if key in obj and not _is_a(obj[key], kind):
            raise CheckpointError(f"{name} holds {_short(obj[key])} as its {key!r}, where a "
                                  f"{'number' if kind != str else 'name'} belongs: {EDITED}")


@torch.no_grad()
def _check_draws_finite_images(G: Generator, name: str) -> None:
    """Finite weights can still overflow (weights of 1e30 multiply past float32's range) or divide by a
    negative batch-norm variance: draw a couple of images, so that `sample` never writes NaN pictures and the
    explorer's PCA never meets them."""
    z = torch.randn(CHECK_SAMPLES, G.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    if not torch.isfinite(G(z)).all():
        raise CheckpointError(f"{name} draws images with NaN or infinite pixels: its weights or batch-norm "
                              "statistics are out of range, so pick another generator or retrain it")
