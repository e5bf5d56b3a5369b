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


def gif_from_images(images: list, durations_ms: list[int]) -> bytes:
    """An animated GIF of PIL images (each shown for its duration), looping forever. RGB frames are reduced to 256
    colours each by fast octree quantisation, undithered: Pillow's default (median cut) took 0.45 s a frame for a
    548 px sample grid against 0.01 s, and dithering made noisy early grids a fifth larger."""
    from PIL import Image

    images = [
        im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) if im.mode == "RGB" else im
        for im in images
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations_ms, loop=0)
    return buffer.getvalue()


def mp4_from_images(images: list, frame_ms: int, hold_last_ms: int = 0) -> bytes:
    """An MP4 of PIL images of one size, each shown `frame_ms` and the last `hold_last_ms`: H.264 in yuv420p (what
    browsers and phones play) when this PyAV has libx264, else MPEG-4 Part 2. Needs PyAV (`av`), imported here only;
    ImportError without it. Odd widths and heights are padded by a pixel (yuv420p halves both for colour)."""
    from fractions import Fraction

    import av
    from PIL import Image

    width, height = images[0].size
    even = (width + width % 2, height + height % 2)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=Fraction(1000, frame_ms))
        assert isinstance(stream, av.VideoStream)  # a video codec's stream (for the type checker)
        stream.width, stream.height, stream.pix_fmt = even[0], even[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "medium"}  # crisp pixels of small grids, still small files
        holds = max(1, round(hold_last_ms / frame_ms)) if hold_last_ms else 1
        for i, image in enumerate(images):
            padded = Image.new("RGB", even, (255, 255, 255))
            padded.paste(image.convert("RGB"), (0, 0))
            frame = av.VideoFrame.from_image(padded)
            for _ in range(holds if i == len(images) - 1 else 1):
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush the encoder's delayed frames
    return buffer.getvalue()
