"""The networks a run trains and the step that trains them, built from its config for the trainer (trainer.py):
G and D on the device in their memory format, one process's or several's (distributed.py), compiled or not
(fast_path.py), their optimizers, and the GAN step, replayed as one CUDA graph where it can be."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dcgan.config import RunConfig
from dcgan.devices import resolve_precision
from dcgan.models import build_models
from dcgan.train.fast_path import CompileChoice, choose_compile, keep_first_transposed_weight_contiguous
from dcgan.train.gan_step import GanStep, GraphedStep, make_optimizers


@dataclass
class Nets:
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    memory_format: torch.memory_format  # real batches are made contiguous in it before each step
    graphed: bool  # the step is captured as one CUDA graph
    compiled: CompileChoice


def build_nets(cfg: RunConfig, team, device: torch.device, total_steps: int) -> Nets:
    """Fresh G, D and optimizers for a run of `total_steps` (a resume loads its checkpoint into them after)."""
    t = cfg.train
    G, D = team.prepare_models(*build_models(cfg.model), t.sync_batchnorm)
    fmt = torch.channels_last if device.type != "mps" else torch.contiguous_format
    # Two calls: the stubs type Module.to(device) and Module.to(memory_format=...) as separate overloads.
    G, D = G.to(device).to(memory_format=fmt), D.to(device).to(memory_format=fmt)
    graphed = device.type == "cuda" and t.cuda_graph and team.world_size == 1  # DDP steps eagerly
    size, width = cfg.model.image_size, max(cfg.model.g_width, cfg.model.d_width)
    compiled = choose_compile(t.compile, device, graphed, team.world_size, total_steps, t.batch_size, size, width)
    if compiled.compile and fmt == torch.channels_last:
        keep_first_transposed_weight_contiguous(G)
    opt_g, opt_d = make_optimizers(G, D, t, device, graphed)
    return Nets(G, D, opt_g, opt_d, fmt, graphed, compiled)


def build_step(nets: Nets, cfg: RunConfig, team, device: torch.device, step_options: dict):
    """The training step over `nets` (compiled and wrapped for several processes as chosen); `step_options`: the
    GAN hacks, G's average and the starting step (keeping.Keeper.step_options)."""
    t = cfg.train
    G_run, D_run = (torch.compile(nets.G), torch.compile(nets.D)) if nets.compiled.compile else (nets.G, nets.D)
    G_run, D_run = team.wrap(G_run, D_run)
    step = GanStep(
        G_run,
        D_run,
        nets.opt_g,
        nets.opt_d,
        z_dim=cfg.model.z_dim,
        real_label=1.0 - t.label_smoothing,
        autocast_dtype=resolve_precision(t.precision, device),
        device=device,
        **step_options,
    )
    return GraphedStep(step) if nets.graphed else team.wrap_step(step)
