"""Which device to train on, and what it is called."""

from __future__ import annotations

import torch

from dcgan.errors import ConfigError


def available_devices() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.insert(0, "mps")
    return found


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; asking for one that is absent is a clear error."""
    found = available_devices()
    if name == "auto":
        return torch.device(found[0])
    if name not in found:
        raise ConfigError(
            f"device {name!r} is not available on this machine (found: {', '.join(found)}); choose device auto"
        )
    return torch.device(name)


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. bf16 pays off on CUDA; CPUs here lack bf16 units."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if name == "bf16" else None
