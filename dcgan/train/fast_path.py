"""Whether a run compiles its networks: `compile` auto / on / off, and auto's rule.

On CUDA the whole step is replayed as one CUDA graph; torch.compile inside that graph fuses batch norm and the
activations and was the fastest path measured (README, "Speed"; ../shared/GPU_NOTES.md): the paper's 64 px model at
batch 128 went from 43,811 to 51,022 images/s on an H100, 14% less time per step. Compiling costs a warm-up at
the start instead, so `auto` compiles only when the run is long enough for the 14% to repay it: an estimate of
the run's training time on an H100 against COMPILE_PAYBACK_S. A slower GPU takes longer for the same run, so on
one the rule errs towards not compiling. Without the CUDA graph, eager compiled steps were slower than eager
ones (GPU_NOTES: 10k against 13k images/s), and several processes step eagerly, so auto compiles neither.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

# Step time of the graphed bf16 trainer on an H100 (README, "Speed"): 128 / 43,811 s for the paper's 64 px model
# (widths 64, batch 128), and a floor for small models, where replaying ~350 kernels sets the pace (32 px, widths
# 32: 128 / 107,080 s).
H100_STEP_S_64PX = 128 / 43_811
H100_STEP_FLOOR_S = 128 / 107_080
COMPILE_SAVING = 1 - 43_811 / 51_022  # share of step time compile-in-graph saved at 64 px (14%)
# Compile warm-up to repay. Not measured here (no GPU was lent when this rule was written): torch.compile's
# warm-up for two small conv nets is tens of seconds cold; 60 s is the conservative figure the rule assumes, and
# `python -m benchmarks.train_throughput --image-size 64` prints what auto chose.
COMPILE_WARMUP_S = 60.0
COMPILE_PAYBACK_S = COMPILE_WARMUP_S / COMPILE_SAVING  # ~7 minutes of estimated training


class CompileChoice(NamedTuple):
    compile: bool
    why: str  # said in status.json and the terminal


def estimated_h100_seconds(total_steps: int, batch_size: int, image_size: int, width: int) -> float:
    """The run's training time on an H100 with the CUDA graph: step time scales with the images and the work per
    image (pixels × width², relative to the 64 px, widths-64 model), and never falls below the replay floor."""
    work = (batch_size / 128) * (image_size / 64) ** 2 * (width / 64) ** 2
    return total_steps * max(H100_STEP_FLOOR_S, H100_STEP_S_64PX * work)


def choose_compile(
    mode: str,
    device: torch.device,
    graphed: bool,
    world_size: int,
    total_steps: int,
    batch_size: int,
    image_size: int,
    width: int,
) -> CompileChoice:
    if mode == "on":
        return CompileChoice(True, "compile on (asked for)")
    if mode == "off":
        return CompileChoice(False, "compile off (asked for)")
    if device.type != "cuda":
        return CompileChoice(False, "compile auto: off, not on CUDA")
    if world_size > 1:
        return CompileChoice(False, "compile auto: off, several processes step eagerly (no CUDA graph)")
    if not graphed:
        return CompileChoice(False, "compile auto: off, without the CUDA graph compiled steps were slower")
    seconds = estimated_h100_seconds(total_steps, batch_size, image_size, width)
    if seconds < COMPILE_PAYBACK_S:
        return CompileChoice(
            False,
            f"compile auto: off, the run (~{seconds / 60:.0f} min on an H100) is too short to repay the warm-up "
            f"(worth it from ~{COMPILE_PAYBACK_S / 60:.0f} min)",
        )
    return CompileChoice(True, f"compile auto: on inside the CUDA graph, a long run (~{seconds / 60:.0f} min, H100)")


def keep_first_transposed_weight_contiguous(G: nn.Module) -> None:
    """With channels_last, Inductor tripped a stride assertion on the first transposed conv's weight gradient
    (GPU_NOTES); keeping that one weight contiguous avoided it. Call before the optimizers are made."""
    first = next((m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)), None)
    if first is not None:
        first.weight.data = first.weight.data.contiguous()
