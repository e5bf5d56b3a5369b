"""Training checkpoints, and the checked loading every file of ours goes through (generator_file.py too).

Files are plain dicts of tensors, loaded only with weights_only=True.

A pickle can run code when it is loaded; weights_only=True refuses anything but tensors and plain
containers, so an uploaded file cannot execute. Every file carries a `format` tag, checked on load,
so a foreign or damaged file gets a clear error instead of a KeyError deep inside.

Nothing in a file is trusted until checked, cheapest first: the container (a zip of stored records, as
torch.save writes) before torch.load reads it, then the format tag, then each field. Every failure is a
CheckpointError whose one-line message names the file, says what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from dcgan.config import RunConfig
from dcgan.errors import CheckpointError

CHECKPOINT_FORMAT = "dcgan-studio/checkpoint-v1"
GENERATOR_FORMAT = "dcgan-studio/generator-v1"
CLASSIFIER_FORMAT = "dcgan-studio/classifier-v1"  # the quality score's classifier (quality/digit_classifier.py)
REFERENCE_FORMAT = "dcgan-studio/reference-features-v1"  # real images' features, cached (quality/tracker.py)
SNAPSHOT_FORMAT = "dcgan-studio/epoch-snapshot-v1"  # G and D at an epoch's end, half precision (runs/snapshots.py)
FORMAT_NAMES = {
    CHECKPOINT_FORMAT: "training checkpoint",
    GENERATOR_FORMAT: "generator",
    CLASSIFIER_FORMAT: "scoring classifier",
    REFERENCE_FORMAT: "cache of real images' features",
    SNAPSHOT_FORMAT: "epoch snapshot",
}

ZIP_MAGIC = b"PK\x03\x04"  # torch.save has written zip archives since PyTorch 1.6
SHOWN_CHARS = 60  # a value quoted from a file in a message is cut to this many characters
MAX_SETTING_CHARS = 100  # longest setting name or text a generator file may hold (ours: "upsample", "transpose")
MAX_SETTING_INT = 2**63  # whole numbers in settings must fit 64 bits (Python cannot even print some larger ones)

# What resuming reads from a checkpoint (trainer._restore): the type each must have, and its name in messages.
CHECKPOINT_FIELDS = {
    "config": (dict, "a dict of settings"),
    "step": (int, "a whole number"),
    "generator": (dict, "a dict of tensors"),
    "discriminator": (dict, "a dict of tensors"),
    "opt_generator": (dict, "an optimizer state"),
    "opt_discriminator": (dict, "an optimizer state"),
    "fixed_z": (torch.Tensor, "a tensor"),
    "rng": (dict, "a dict of random-number states"),
}


# -- reading any file of ours -------------------------------------------------------------------------
def display_name(source, name: str | None) -> str:
    """How messages call the file: the name given (an upload's), else the path as given, else the file's name."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "the uploaded file"))


def is_plain_setting(value) -> bool:
    """A short word, a bool, a float or a whole number that fits 64 bits: safe to quote in a message."""
    if isinstance(value, str):
        return len(value) <= MAX_SETTING_CHARS
    return isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < MAX_SETTING_INT)


def shown_value(value) -> str:
    """A value read from a file, for a message: plain values quoted (cut to SHOWN_CHARS), others by type."""
    if value is None or isinstance(value, (str, float)) or is_plain_setting(value):
        text = repr(value)
        return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
    return "a number too large to show" if isinstance(value, int) else f"a {type(value).__name__}"


def is_a(value, kind) -> bool:
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
            raise CheckpointError(
                f"{name} is not a PyTorch file (those are zip archives), so it is not a {what} "
                "saved by DCGAN Studio: pick the .pt file that DCGAN Studio wrote"
            )
        with zipfile.ZipFile(file) as archive:
            records = archive.infolist()
    compressed = next((r.filename for r in records if r.compress_type != zipfile.ZIP_STORED), None)
    if compressed is not None:
        raise CheckpointError(
            f"{name} is not a {what} saved by DCGAN Studio: its record {shown_value(compressed)} is "
            "compressed, which torch.save never does (and it could expand to any size)"
        )


def _refusal_message(err: pickle.UnpicklingError, name: str, what: str) -> str:
    """weights_only refused part of the pickle; torch's message is a page long, so say it in one sentence,
    naming the Python object the file asked for when torch's message says which."""
    asked = re.search(r"GLOBAL ([\w.]+)", str(err))
    if asked:
        return (
            f"{name} was not loaded: it asks for the Python object {shown_value(asked.group(1))}, which is not "
            f"allowed to load safely because loading it could run code; a {what} saved by DCGAN Studio holds "
            "only tensors, numbers and text, so load files only from people you trust"
        )
    return (
        f"{name} is damaged or is not a {what} saved by DCGAN Studio: it holds more than tensors, numbers "
        "and text, so it was not loaded"
    )


def _check_format(obj, expected_format: str, name: str) -> None:
    found = obj.get("format") if isinstance(obj, dict) else None
    if isinstance(found, str) and found == expected_format:
        return
    what = FORMAT_NAMES[expected_format]
    if isinstance(found, str) and found == CHECKPOINT_FORMAT and expected_format == GENERATOR_FORMAT:
        raise CheckpointError(
            f"{name} is a training checkpoint, not a generator: load the generator.pt in the same "
            "run folder instead (a run writes it when it finishes or is stopped)"
        )
    if isinstance(found, str) and found in FORMAT_NAMES:
        raise CheckpointError(f"{name} is a {FORMAT_NAMES[found]} of DCGAN Studio, not a {what}")
    shown = f"format {shown_value(found)}" if isinstance(obj, dict) else shown_value(obj)
    raise CheckpointError(f"{name} is not a {what} of DCGAN Studio (found {shown}, expected {expected_format!r})")


def load_tagged(source, expected_format: str, name: str) -> dict:
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
        raise CheckpointError(
            f"{name} is not a readable PyTorch file ({type(err).__name__}): it is damaged or cut "
            "short, so save or download it again"
        ) from None
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


def checkpoint_state(
    *,
    config: RunConfig,
    G,
    D,
    opt_g,
    opt_d,
    step: int,
    fixed_z: torch.Tensor,
    rng: dict,
    elapsed_s: float,
    extra: dict | None = None,
) -> dict:
    """Everything a resume needs, copied to the CPU (so it can be written in the background); `extra`: more
    entries (G's average, generator_ema, when the run keeps one)."""
    return cpu_copy(
        {
            "format": CHECKPOINT_FORMAT,
            "config": config.to_dict(),
            "step": step,
            "elapsed_s": elapsed_s,  # training time so far, so speed and ETA survive a resume
            "generator": G.state_dict(),
            "discriminator": D.state_dict(),
            "opt_generator": opt_g.state_dict(),
            "opt_discriminator": opt_d.state_dict(),
            "fixed_z": fixed_z.cpu(),
            "rng": rng,  # {"torch": ByteTensor, "cuda": ByteTensor?}
            **(extra or {}),
        }
    )


def load_checkpoint(path: Path, *, name: str | None = None) -> dict:
    """A training checkpoint, with every field resuming reads present and of the right type."""
    name = display_name(path, name)
    ckpt = load_tagged(path, CHECKPOINT_FORMAT, name)
    _check_checkpoint_fields(ckpt, name)
    return ckpt


def _check_checkpoint_fields(ckpt: dict, name: str) -> None:
    """Resuming reads these (trainer._restore): a KeyError there would not say which file is at fault."""
    broken = "the checkpoint is damaged or incomplete, so the run cannot resume from it"
    for key, (kind, words) in CHECKPOINT_FIELDS.items():
        if key not in ckpt:
            raise CheckpointError(f"{name} has no {key!r}: {broken}")
        if not is_a(ckpt[key], kind):
            raise CheckpointError(f"{name} holds {shown_value(ckpt[key])} as {key!r}, where {words} belongs: {broken}")
    if ckpt["step"] < 0:
        raise CheckpointError(f"{name} says it is at step {ckpt['step']}, below 0: {broken}")
    if not is_a(ckpt.get("elapsed_s", 0.0), (int, float)):
        raise CheckpointError(
            f"{name} holds {shown_value(ckpt['elapsed_s'])} as 'elapsed_s', where a number belongs: {broken}"
        )
    if "generator_ema" in ckpt and not isinstance(ckpt["generator_ema"], dict):  # written with ema_half_life on
        raise CheckpointError(f"{name} holds {shown_value(ckpt['generator_ema'])} as 'generator_ema': {broken}")
    for key in ("generator", "discriminator", *(["generator_ema"] if "generator_ema" in ckpt else [])):
        bad = next((k for k, v in ckpt[key].items() if not isinstance(v, torch.Tensor)), None)
        if bad is not None:
            raise CheckpointError(
                f"{name} holds {shown_value(ckpt[key][bad])} as {key} weight {shown_value(bad)}, "
                f"where a tensor belongs: {broken}"
            )
        bad = next((k for k, v in ckpt[key].items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
        if bad is not None:  # training from it would diverge again at its first step
            raise CheckpointError(
                f"{name} holds NaN or infinite values in {key} weight {shown_value(bad)}, so training "
                "cannot continue from it"
            )
    rng = ckpt["rng"].get("torch")
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise CheckpointError(f"{name} has no random-number state ('rng' needs a 'torch' byte tensor): {broken}")
