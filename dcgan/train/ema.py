"""An exponential moving average of G's weights, as stylegan2-ada keeps (training/training_loop.py, G_ema).

G's weights jump about with every step of the two-player game; their average over the last few thousand images
draws steadier, usually better samples. When it is on, samples, quality scores, best_generator.pt and
generator.pt come from the average. Its weight follows stylegan2-ada: after each G step,
ema = beta * ema + (1 - beta) * G with beta = 0.5 ** (batch / half_life), the half-life in images; early in a
run the half-life is at most EMA_RAMPUP of the images seen so far, so the average does not drag the random
initial weights along. The update reads the step count from a device tensor, so the CUDA graph captures it.
"""

from __future__ import annotations

import copy

import torch

EMA_RAMPUP = 0.05  # stylegan2-ada's ema_rampup: the half-life is at most this share of the images seen so far
EMA_KEY = "generator_ema"  # the average's weights in checkpoint.pt


class GeneratorEma:
    def __init__(self, G: torch.nn.Module, half_life_images: int, batch_size: int):
        self.source = G
        self.module = copy.deepcopy(G).eval().requires_grad_(False)
        self.half_life, self.batch_size = float(half_life_images), float(batch_size)
        self._pairs = list(zip(self.module.parameters(), G.parameters()))
        self._buffers = list(zip(self.module.buffers(), G.buffers()))

    @classmethod
    def create(cls, G: torch.nn.Module, t, checkpoint: dict | None) -> GeneratorEma | None:
        """The average for TrainConfig `t` (None when ema_half_life is 0), continued from the checkpoint's when
        it holds one, else starting from G as it is (a new run, a run rolled back or switched to EMA)."""
        if not t.ema_half_life:
            return None
        ema = cls(G, t.ema_half_life, t.batch_size)
        if checkpoint is not None and EMA_KEY in checkpoint:
            ema.module.load_state_dict(checkpoint[EMA_KEY])
        return ema

    def beta(self, steps_done: torch.Tensor) -> torch.Tensor:
        """The old average's weight after step number `steps_done` (counting from 1), a 0-d tensor."""
        images = steps_done.float() * self.batch_size  # float32: MPS has no float64
        half_life = torch.clamp(torch.clamp(images * EMA_RAMPUP, max=self.half_life), min=1e-8)
        return torch.exp2(-self.batch_size / half_life)

    @torch.no_grad()
    def update(self, steps_done: torch.Tensor) -> None:
        """Move the average towards G after G's step number `steps_done`; batch norm's statistics are copied."""
        weight = 1.0 - self.beta(steps_done)
        for average, current in self._pairs:
            average.lerp_(current, weight.to(average.dtype))
        for average_buffer, current_buffer in self._buffers:
            average_buffer.copy_(current_buffer)

    def state_dict(self) -> dict:
        return self.module.state_dict()
