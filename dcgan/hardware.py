"""What hardware this machine has, found without importing torch (which takes ~2 s to import).

The Home page shows this at once; dcgan.devices (with torch) decides what a run actually uses.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")  # one folder per GPU, written by NVIDIA's Linux driver


def nvidia_gpus(proc: Path = NVIDIA_PROC) -> list[str]:
    """Model names of the NVIDIA GPUs the driver sees, e.g. ['NVIDIA H100 80GB HBM3']."""
    names = []
    for info in sorted(proc.glob("*/information")) if proc.is_dir() else []:
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return names


def describe_hardware() -> str:
    gpus = nvidia_gpus()
    if gpus:
        return f"GPU: {', '.join(gpus)} (CUDA)"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count()} cores) — no GPU found"
