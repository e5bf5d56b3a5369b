"""Checkpoints and exported generators: plain dicts of tensors, loaded only with weights_only=True.

A pickle can run code when it is loaded; weights_only=True refuses anything but tensors and plain
containers, so an uploaded file cannot execute. Every file carries a `format` tag, checked on load,
so a foreign or damaged file gets a clear error instead of a KeyError deep inside.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from .config import ConfigError, ModelConfig, RunConfig
from .fileio import atomic_save_torch
from .models import Generator

CHECKPOINT_FORMAT = "dcgan-studio/checkpoint-v1"
GENERATOR_FORMAT = "dcgan-studio/generator-v1"


class CheckpointError(ValueError):
    """The file is not one of ours, or is damaged; the message says which file and what is wrong."""


def _load(path, expected_format: str, what: str) -> dict:
    name = getattr(path, "name", str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{name} does not exist") from None
    except pickle.UnpicklingError as err:  # weights_only refused a class: maybe a pickled module, maybe an attack
        raise CheckpointError(f"{name} holds Python objects that are not allowed to load safely "
                              f"(not a {what} saved by DCGAN Studio): {str(err).splitlines()[0][:160]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(f"{name} is not a readable PyTorch file ({type(err).__name__}); is it damaged or cut short?") from None
    if not isinstance(obj, dict) or obj.get("format") != expected_format:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{name} is not a {what} of DCGAN Studio (found {found!r}, expected {expected_format!r})")
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


def load_checkpoint(path: Path) -> dict:
    return _load(path, CHECKPOINT_FORMAT, "training checkpoint")


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


def load_generator(path, device: str | torch.device = "cpu") -> tuple[Generator, dict]:
    """(Generator in eval mode, the file's metadata); `path` may be a file path or an open binary file."""
    obj = _load(path, GENERATOR_FORMAT, "generator")
    try:
        cfg = ModelConfig(**obj["model"])
        G = Generator(cfg)
        G.load_state_dict(obj["state_dict"])
    except (TypeError, KeyError, ConfigError, RuntimeError) as err:
        raise CheckpointError(f"generator file does not match its own config: {str(err).splitlines()[0][:200]}") from None
    meta = {k: v for k, v in obj.items() if k != "state_dict"}
    return G.to(device).eval(), meta

