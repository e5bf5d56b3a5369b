"""Pictures from image tensors: a grid of a batch, crisp enlargement, PNG and animated-GIF bytes.

Accepts uint8 [0, 255] or float [-1, 1] tensors shaped (N, C, H, W), as the data loaders and generators give.
"""

from __future__ import annotations

import io

import numpy as np
import torch


def image_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2):
    """A PIL image of a batch laid out in a grid; accepts uint8 [0, 255] or float [-1, 1] tensors."""
    from PIL import Image

    x = images.detach().float().cpu()
    if images.dtype != torch.uint8:
        x = (x.clamp(-1, 1) + 1) * 127.5
    n, c, h, w = x.shape
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / columns))
    canvas = torch.full((c, rows * (h + padding) + padding, columns * (w + padding) + padding), 255.0)
    for i in range(n):
        top, left = padding + (i // columns) * (h + padding), padding + (i % columns) * (w + padding)
        canvas[:, top : top + h, left : left + w] = x[i]
    array = canvas.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if c == 1 else array)


def upscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour enlargement (B, C, H*f, W*f): crisp pixels for small images on screen."""
    return images.repeat_interleave(factor, -1).repeat_interleave(factor, -2) if factor > 1 else images


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: torch.Tensor, frame_ms: int = 80, scale: int = 4, bounce: bool = False) -> bytes:
    """An animated GIF of frames (T, C, H, W) in [-1, 1], looping forever; `bounce` plays it back and forth."""
    frames = upscale(frames, scale)
    if bounce and len(frames) > 2:
        frames = torch.cat([frames, frames.flip(0)[1:-1]])
    images = [image_grid(f[None], padding=0) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
