"""One DCGAN training step, and the same step captured in a CUDA graph.

The step is the lessons' loop: D on a real batch and a fake batch, then G with flipped labels,
BCE with logits, Adam. Its losses are summed on the device and read every `log_every` steps, so
the hot path never waits for the GPU (`.item()` each step would). On CUDA the whole step, noise,
both passes and both optimizer updates, is replayed as one CUDA graph: an eager step of these small
nets is ~350 kernel launches, and launching, not computing, sets the pace. With the step graphed (and the
data on the GPU), the trainer runs the SVHN lesson's model at 107k img/s on an H100, the reference at 12k
(README, "Speed"); `python -m benchmarks.step_breakdown` times the eager step against the graphed one.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from dcgan.runs.records import NETWORK_STATS
from dcgan.train.hacks import StepHacks, d_lr, g_lr

STATS = NETWORK_STATS  # summed per step in this order: D loss, G loss, mean D(x), mean D(G(z))


def make_optimizers(G, D, cfg, device: torch.device, graphed: bool):
    """Adam for each network (each at its own learning rate with TTUR: hacks.g_lr, d_lr); fused and capturable on
    CUDA so the update can live inside a graph."""
    extra = {"fused": True, "capturable": graphed} if device.type == "cuda" else {}
    betas = (cfg.beta1, cfg.beta2)
    return (
        torch.optim.Adam(G.parameters(), lr=g_lr(cfg), betas=betas, **extra),
        torch.optim.Adam(D.parameters(), lr=d_lr(cfg), betas=betas, **extra),
    )


class GanStep:
    def __init__(
        self,
        G,
        D,
        opt_g,
        opt_d,
        *,
        z_dim: int,
        real_label: float,
        autocast_dtype,
        device: torch.device,
        hacks: StepHacks | None = None,
        ema=None,
        start_step: int = 0,
    ):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.z_dim, self.real_label, self.device = z_dim, real_label, device
        self.autocast_dtype = autocast_dtype
        self.hacks = hacks or StepHacks()
        self.ema = ema  # ema.GeneratorEma, moved after each G step; None = off
        # Steps done so far, on the device: the instance noise's schedule and the EMA's ramp read it inside the graph.
        self.steps_done = torch.tensor(start_step, dtype=torch.int64, device=device)
        self.stats = torch.zeros(len(STATS), device=device)
        self.steps_in_stats = 0

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        # cache_enabled=False: autocast's weight-cast cache is not allowed inside CUDA graph capture.
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, cache_enabled=False)

    @staticmethod
    def _noisy(images: torch.Tensor, std: torch.Tensor | None) -> torch.Tensor:
        """D's input with instance noise of `std` added (None: as it is)."""
        return images if std is None else images + std.to(images.dtype) * torch.randn_like(images)

    def __call__(self, real: torch.Tensor) -> None:
        """real: (B, C, H, W) float in [-1, 1] on the device."""
        b = real.shape[0]
        noise_std = self.hacks.noise_std(self.steps_done)
        # 1. Discriminator, d_steps times on fresh fakes: real images towards real_label (0.9 with smoothing),
        # fakes towards 0 (each target swapped with probability label_flip).
        d_sums = torch.zeros(3, device=self.device)  # D loss, mean D(x), mean D(G(z)), summed over the D steps
        for _ in range(self.hacks.d_steps):
            z = torch.randn(b, self.z_dim, device=self.device)
            with self._autocast():
                fake = self.G(z)
                d_real = self.D(self._noisy(real, noise_std)).float()
                d_fake = self.D(self._noisy(fake.detach(), noise_std)).float()
            real_target, fake_target = self.hacks.targets(d_real, self.real_label)
            loss_d = F.binary_cross_entropy_with_logits(d_real, real_target) + F.binary_cross_entropy_with_logits(
                d_fake, fake_target
            )
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            with torch.no_grad():
                d_sums += torch.stack([loss_d, torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()])
        # 2. Generator: flipped labels (fakes towards 1), as the lessons do; D's weights need no gradient.
        self.D.requires_grad_(False)
        with self._autocast():
            d_fake_for_g = self.D(self._noisy(fake, noise_std)).float()
        loss_g = F.binary_cross_entropy_with_logits(d_fake_for_g, torch.ones_like(d_fake_for_g))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.steps_done += 1
        if self.ema is not None:
            self.ema.update(self.steps_done)
        with torch.no_grad():
            d_means = d_sums / self.hacks.d_steps
            self.stats += torch.stack([d_means[0], loss_g, d_means[1], d_means[2]])
        self.steps_in_stats += 1

    def read_stats(self) -> dict[str, float] | None:
        """Mean of each stat since the last read (one device sync), then reset; None if no steps."""
        if self.steps_in_stats == 0:
            return None
        means = (self.stats / self.steps_in_stats).tolist()
        self.stats.zero_()
        self.steps_in_stats = 0
        return dict(zip(STATS, means))


class GraphedStep:
    """Runs GanStep eagerly for a few warm-up steps on a side stream, then captures it and replays it."""

    WARMUP_STEPS = 3  # real training steps, counted like any other

    def __init__(self, step: GanStep):
        self.step = step
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_real: torch.Tensor | None = None
        self.warmed = 0

    def __call__(self, real: torch.Tensor) -> None:
        if self.static_real is None:
            self.static_real = torch.empty_like(real)
        self.static_real.copy_(real)
        if self.graph is None:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            if self.warmed < self.WARMUP_STEPS:
                with torch.cuda.stream(side):
                    self.step(self.static_real)
                torch.cuda.current_stream().wait_stream(side)
                self.warmed += 1
                return
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.step(self.static_real)  # recorded, not run: the replay below runs it
            self.step.steps_in_stats -= 1
        self.graph.replay()
        self.step.steps_in_stats += 1

    def read_stats(self):
        return self.step.read_stats()
