"""Training throughput of our trainer against a reference loop written the way pytorch/examples' dcgan trains.

Both train the same model at the same batch size in this process, on street-digits:
  reference: a torchvision-style dataset of PIL images -> per-image ToTensor/Normalize -> DataLoader
             (workers as that example uses them) -> fp32 eager steps with .item() each step;
  ours:      dcgan.train.trainer.train_run on a real run folder, metrics, samples and checkpoints included.
Prints images/s of each and the ratio. Usage:
  python -m benchmarks.train_throughput                       # the SVHN lesson's model, 32 px, width 32
  python -m benchmarks.train_throughput --image-size 64       # the paper's model (widths 64)
On a GPU, ours is by default a long run (400 epochs, the length auto-compile is for: dcgan/train/fast_path.py)
stopped after --measure-steps steps: what a long run trains at with the default settings. --compile on/off forces.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from PIL import Image

from dcgan.config import DataConfig, ModelConfig, RunConfig, apply_overrides
from dcgan.data.loading import load_images
from dcgan.devices import resolve_device
from dcgan.errors import ConfigError
from dcgan.models import build_models
from dcgan.runs.manage import create_run
from dcgan.train.trainer import train_run


class PILImages(torch.utils.data.Dataset):
    """What torchvision's SVHN/CIFAR classes do per item: array -> PIL image -> transform."""

    def __init__(self, images: torch.Tensor):
        import torchvision.transforms as T

        self.arrays = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
        c = images.shape[1]
        self.transform = T.Compose([T.ToTensor(), T.Normalize((0.5,) * c, (0.5,) * c)])

    def __len__(self):
        return len(self.arrays)

    def __getitem__(self, i):
        array = self.arrays[i]
        return self.transform(Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)), 0


def reference_loop(images, model_cfg, batch, device, steps, warmup, workers):
    G, D = build_models(model_cfg)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(
        PILImages(images),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    done, start = 0, None
    while done < steps + warmup:
        for real, _ in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            real = real.to(device)
            D.zero_grad()
            out = D(real)
            err_real = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            err_real.backward()
            d_x = torch.sigmoid(out).mean().item()
            fake = G(torch.randn(batch, model_cfg.z_dim, device=device))
            out = D(fake.detach())
            err_fake = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out))
            err_fake.backward()
            opt_d.step()
            G.zero_grad()
            out = D(fake)
            err_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            err_g.backward()
            opt_g.step()
            _ = (err_real + err_fake).item(), err_g.item(), d_x  # the example prints these every step
            done += 1
            if done >= steps + warmup:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def ours(settings: dict, measure_steps: int) -> tuple[float, int, str]:
    """(images/s, sample grids written, what compile auto chose) of a run stopped after `measure_steps` (0 = all)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = create_run(apply_overrides(RunConfig(), settings), tmp)
        steps: list[int] = []
        train_run(run, abort_fn=lambda: bool(measure_steps) and (steps.append(1) or len(steps) >= measure_steps))
        records = run.read_metrics()[0]
        first, last = records[min(2, len(records) - 2)], records[-1]  # skip warm-up (graph capture, cudnn autotune)
        rate = (last["images_seen"] - first["images_seen"]) / (last["time"] - first["time"])
        samples = len(run.samples())
        compiled = (run.read_status() or {}).get("compile", "?")
    return rate, samples, compiled


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--reference-steps", type=int, default=0, help="0 = 60 on CPU, 400 on a GPU")
    parser.add_argument(
        "--epochs", type=int, default=0, help="epochs of 50k images for ours; 0 = 1 on CPU, 400 on a GPU"
    )
    parser.add_argument(
        "--measure-steps", type=int, default=-1, help="stop ours after this many steps; -1 = 5000 on a GPU, 0 = never"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only this many street-digits images (0 = 50k)")
    parser.add_argument("--compile", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--no-cuda-graph", action="store_true")
    args = parser.parse_args()

    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    model_cfg = ModelConfig(image_size=args.image_size).resolved()
    data = load_images(DataConfig(limit=args.limit), args.image_size, 3)
    workers = min(8, os.cpu_count() or 1) if gpu else 2
    print(
        f"device {device}, model {args.image_size} px widths {model_cfg.g_width}, batch {args.batch_size}, "
        f"{len(data)} street-digits images"
    )

    ref_steps = args.reference_steps or (400 if gpu else 60)
    reference = reference_loop(data.images, model_cfg, args.batch_size, device, ref_steps, warmup=10, workers=workers)
    print(
        f"reference loop (DataLoader, {workers} workers, per-image transforms, fp32 eager): {reference:,.0f} images/s"
    )

    settings = {
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "device": args.device,
        "precision": args.precision,
        "epochs": args.epochs or (400 if gpu else 1),
        "log_every": 50 if gpu else 20,
        "compile": args.compile,
        "limit": args.limit,
        "cuda_graph": not args.no_cuda_graph,
        "seed": 0,
        "name": "bench",
    }
    measure = args.measure_steps if args.measure_steps >= 0 else (5000 if gpu else 0)
    rate, samples, compiled = ours(settings, measure)
    print(f"ours (dcgan.train.trainer, metrics + {samples} sample grids + checkpoints written): {rate:,.0f} images/s")
    print(f"  {compiled}{f'; stopped after {measure} steps' if measure else ''}")
    print(f"ratio ours / reference: {rate / reference:.2f}x")


if __name__ == "__main__":
    try:
        main()
    except ConfigError as err:
        sys.exit(f"error: {err}")
