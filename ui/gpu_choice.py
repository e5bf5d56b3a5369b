"""The Train form's choice of GPUs: shown only on a machine with more than one."""

from __future__ import annotations

import streamlit as st

from dcgan.runs.launch_command import gpu_count, gpu_options

GPU_HELP = (
    "All GPUs: torchrun starts one process per GPU, training this one run with DistributedDataParallel (the batch "
    "is split over them, batch norm over the whole batch). 32–64 px DCGANs scale poorly over GPUs: one GPU, with "
    "its whole step in a CUDA graph, is often as fast (README, 'Several GPUs')."
)


def processes_choice(key: str) -> int:
    """Draw the choice (inside the form) when this machine has several GPUs; the processes to train with."""
    gpus = gpu_count()
    options = gpu_options(gpus)
    if not options:
        return 1
    return st.radio(
        "GPUs",
        options,
        format_func=lambda n: f"all {n} GPUs (torchrun)" if n > 1 else "one GPU",
        horizontal=True,
        key=key,
        help=GPU_HELP,
    )
