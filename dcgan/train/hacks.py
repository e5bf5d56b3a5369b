"""The GAN hacks of TrainConfig (d_steps, TTUR learning rates, label flipping, instance noise) as the training step
uses them. Every one is a tensor operation on the device, so the CUDA-graphed step captures them like the rest
of the step: the step count they follow lives on the device too (GanStep.steps_done)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def g_lr(t) -> float:
    """G's learning rate: lr_g, or lr when it is 0."""
    return t.lr_g or t.lr


def d_lr(t) -> float:
    """D's learning rate: lr_d, or lr when it is 0."""
    return t.lr_d or t.lr


@dataclass(frozen=True)
class StepHacks:
    d_steps: int = 1  # D updates per G update
    label_flip: float = 0.0  # chance that each D target is swapped
    instance_noise: float = 0.0  # std of the noise on D's inputs at step 0
    noise_decay_steps: int = 1  # steps over which that std falls linearly to 0

    @classmethod
    def of(cls, t, steps_per_epoch: int) -> StepHacks:
        """The switches of TrainConfig `t`, with the noise's schedule in steps."""
        return cls(
            d_steps=t.d_steps,
            label_flip=t.label_flip,
            instance_noise=t.instance_noise,
            noise_decay_steps=max(1, round(t.instance_noise_epochs * steps_per_epoch)),
        )

    def noise_std(self, steps_done: torch.Tensor) -> torch.Tensor | None:
        """The instance noise's std at this step (a 0-d tensor on the device), or None when the noise is off:
        instance_noise at step 0, falling linearly to 0 at noise_decay_steps, 0 after."""
        if not self.instance_noise:
            return None
        left = torch.clamp(1.0 - steps_done.float() / self.noise_decay_steps, min=0.0)
        return self.instance_noise * left

    def targets(self, logits: torch.Tensor, real_label: float) -> tuple[torch.Tensor, torch.Tensor]:
        """D's targets for its real and fake batches (logits: (B,) of either): real_label and 0, each pair of
        targets swapped with probability label_flip (drawn per image, on the device)."""
        real = torch.full_like(logits, real_label)
        fake = torch.zeros_like(logits)
        if not self.label_flip:
            return real, fake
        flip_real, flip_fake = torch.rand((2, *logits.shape), device=logits.device) < self.label_flip
        return torch.where(flip_real, fake, real), torch.where(flip_fake, real, fake)
