"""Where a training epoch's time goes: the bare step (eager / CUDA graph, fp32 / bf16) against the
whole trainer loop, and the cost of one checkpoint snapshot, one sample grid and one metrics read.

  python -m benchmarks.step_breakdown --image-size 64
"""

from __future__ import annotations

import argparse
import time

import torch

from dcgan.config import ModelConfig, RunConfig, TrainConfig
from dcgan.devices import resolve_device
from dcgan.images import image_grid
from dcgan.models import build_models
from dcgan.runs.checkpoint import checkpoint_state
from dcgan.train.gan_step import GanStep, GraphedStep, make_optimizers


def timed(fn, repeats: int, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    device = resolve_device(args.device)
    cfg = ModelConfig(image_size=args.image_size).resolved()
    train = TrainConfig()
    real = torch.rand(args.batch_size, 3, cfg.image_size, cfg.image_size, device=device) * 2 - 1
    real = real.contiguous(memory_format=torch.channels_last)
    variants = [("eager fp32", False, None)]
    if device.type == "cuda":
        variants += [
            ("eager bf16", False, torch.bfloat16),
            ("graph fp32", True, None),
            ("graph bf16", True, torch.bfloat16),
        ]
    for name, graphed, dtype in variants:
        G, D = build_models(cfg)
        G, D = G.to(device, memory_format=torch.channels_last), D.to(device, memory_format=torch.channels_last)
        opt_g, opt_d = make_optimizers(G, D, train, device, graphed)
        step = GanStep(G, D, opt_g, opt_d, z_dim=cfg.z_dim, real_label=1.0, autocast_dtype=dtype, device=device)
        step = GraphedStep(step) if graphed else step
        timed(lambda step=step: step(real), 10, device)
        seconds = timed(lambda step=step: step(real), args.steps, device)
        print(f"{name:12} {args.batch_size / seconds:10,.0f} images/s  ({seconds * 1e3:.2f} ms/step)")
    fixed_z = torch.randn(64, cfg.z_dim)
    snapshot = timed(
        lambda: checkpoint_state(
            config=RunConfig(), G=G, D=D, opt_g=opt_g, opt_d=opt_d, step=1, fixed_z=fixed_z, rng={}, elapsed_s=0
        ),
        5,
        device,
    )

    def sample():
        G.eval()
        with torch.no_grad():
            image_grid(G(fixed_z.to(device)).float()).save("/dev/null", format="PNG")
        G.train()

    grid = timed(sample, 5, device)
    read = timed(lambda: step.read_stats(), 20, device)
    print(
        f"checkpoint snapshot to CPU {snapshot * 1e3:.1f} ms, sample grid + PNG {grid * 1e3:.1f} ms, "
        f"metrics read {read * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
