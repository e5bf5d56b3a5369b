"""A grid of samples with each one's number drawn under it, so a person picks "7" and sees which one that is.

Numbers run left to right, top to bottom, from 1, as the explorer's pickers count them.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from dcgan.images import image_grid, upscale

LABEL_PX = 14  # height of the strip under each sample that holds its number
PADDING = 4  # white space between samples


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's scalable default font (needs FreeType)
    except (TypeError, OSError):  # an older Pillow or one without FreeType: its fixed bitmap font
        return ImageFont.load_default()


def numbered_grid(images: torch.Tensor, columns: int, scale: int = 2, first: int = 1):
    """A PIL image (RGB) of images (N, C, H, W) in [-1, 1] or uint8, `columns` to a row, each enlarged
    `scale` times (nearest neighbour) with its number, counted from `first`, centred in a strip below it."""
    from PIL import Image, ImageDraw

    tiles = upscale(images, scale)
    n, _, h, w = tiles.shape
    rows = -(-n // columns)
    cell_w, cell_h = w + PADDING, h + LABEL_PX + PADDING
    canvas = Image.new("RGB", (columns * cell_w + PADDING, rows * cell_h + PADDING), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(LABEL_PX - 2)
    for i in range(n):
        left, top = PADDING + (i % columns) * cell_w, PADDING + (i // columns) * cell_h
        canvas.paste(image_grid(tiles[i : i + 1], padding=0).convert("RGB"), (left, top))
        draw.text((left + w / 2, top + h + LABEL_PX / 2), str(first + i), fill=(20, 20, 20), font=font, anchor="mm")
    return canvas
