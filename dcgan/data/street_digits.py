"""street-digits: the built-in, offline stand-in for SVHN, rendered procedurally and cached on disk.

Each image is a house-number crop: a centred digit (the label) with parts of its neighbours at the
sides, in one of ten fonts, slanted, rotated and scaled a little, in a colour against a shaded
background of varied contrast, then blurred and noised. Everything is drawn in batches with torch
(glyph masks warped by `grid_sample`), so 60,000 images take seconds, and it is deterministic:
the same seed, count and size always give the same images.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dcgan.paths import ASSETS

GLYPHS_FILE = ASSETS / "digit_glyphs.npz"
RENDER_VERSION = 2  # bump when the drawing changes, so stale caches are not reused (2: blocks of 1,024)
# Images drawn per block, each block from its own seed. A new run trains on the first block while the rest
# is drawn (BackgroundDrawing), so the block is small: 1,024 take ~1 s on a busy 2-core CPU (4,096 took
# ~5 s), and drawing in blocks of 1,024 is as fast per image as in blocks of 4,096.
CHUNK = 1024
TRAIN_SIZE, TEST_SIZE = 50_000, 10_000
TRAIN_SEED, TEST_SEED = 0, 1


def _glyph_bank() -> tuple[torch.Tensor, torch.Tensor]:
    bank = np.load(GLYPHS_FILE)
    masks = torch.from_numpy(bank["masks"]).float().div_(255)  # (fonts, 10, 48, 48)
    widths = torch.from_numpy(bank["widths"])  # (fonts, 10) ink width / canvas width
    return masks, widths


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (high - low) + low


def _glyph_grid(scale, angle, shear, shift, out_size):
    """Sampling grid (n, out, out, 2) from image coords to the centre glyph's canvas coords."""
    n = scale.shape[0]
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Forward map glyph -> image in normalised coords: p_image = scale * rotate(shear(p_glyph)) + shift.
    a = torch.stack([torch.stack([cos, cos * shear - sin], -1), torch.stack([sin, sin * shear + cos], -1)], 1)
    inverse = torch.linalg.inv(a * scale.view(n, 1, 1))
    theta = torch.cat([inverse, -(inverse @ shift.unsqueeze(-1))], 2)  # image -> glyph, as grid_sample wants
    return F.affine_grid(theta, [n, 1, out_size, out_size], align_corners=False)


def _sample_glyph(masks, font, digit, grid):
    return F.grid_sample(masks[font, digit].unsqueeze(1), grid, mode="bilinear", align_corners=False)


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with a different sigma per image, as one grouped convolution."""
    n, c, h, w = images.shape
    radius = 3
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma.clamp(min=1e-3).view(n, 1) ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, 7)
    flat = F.pad(images.reshape(1, n * c, h, w), (radius,) * 4, mode="replicate")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w)


def _colours(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Background and ink colours (n, 3) whose brightness differs by a varied contrast."""
    bg_luma = _uniform(gen, n, 0.05, 0.95)
    contrast = _uniform(gen, n, 0.18, 0.7)
    direction = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    direction = torch.where(bg_luma + direction * contrast > 1, -1.0, direction)
    direction = torch.where(bg_luma + direction * contrast < 0, 1.0, direction)
    ink_luma = bg_luma + direction * contrast
    tint = lambda: (torch.rand(n, 3, generator=gen) - 0.5) * _uniform(gen, n, 0.0, 0.5).unsqueeze(1)
    return (bg_luma.unsqueeze(1) + tint()).clamp(0, 1), (ink_luma.unsqueeze(1) + tint()).clamp(0, 1)


def _render_chunk(gen, masks, widths, n, size, channels):
    big = 2 * size  # the ink is drawn at twice the size, then averaged down: anti-aliased edges
    font = torch.randint(masks.shape[0], (n,), generator=gen)
    digits = torch.randint(10, (3, n), generator=gen)  # left neighbour, label, right neighbour
    height = _uniform(gen, n, 0.5, 0.85)  # digit height / image height
    scale = height * 48 / 40  # glyph canvas / image (ink is 40 of 48 px tall)
    angle = _uniform(gen, n, -0.14, 0.14)
    shear = _uniform(gen, n, -0.25, 0.25) * (torch.rand(n, generator=gen) < 0.4)
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * torch.tensor([0.12, 0.1])
    bold = torch.rand(n, generator=gen) < 0.25
    gap = _uniform(gen, n, 0.02, 0.3)  # space between digits, in glyph-canvas units (the canvas spans 2)

    # 1. Ink: the label in the centre; neighbours sit on the same slanted baseline, shifted along x
    #    in glyph coordinates (shear leaves x-shifts unchanged, so one grid serves all three).
    grid = _glyph_grid(scale, angle, shear, shift, big)
    ink = _sample_glyph(masks, font, digits[1], grid)
    half = widths[font, digits[1]]
    for side, sign in ((0, -1.0), (2, 1.0)):
        present = torch.rand(n, generator=gen) < 0.8
        offset = sign * (half + gap + widths[font, digits[side]])
        shifted = grid - torch.stack([offset, torch.zeros(n)], -1).view(n, 1, 1, 2)
        ink = torch.maximum(ink, _sample_glyph(masks, font, digits[side], shifted) * present.view(n, 1, 1, 1))
    ink[bold] = F.max_pool2d(ink[bold], 3, 1, 1)
    ink = F.avg_pool2d(ink, 2)  # (n, 1, size, size)

    # 2. Colours: a shaded, mottled background and the ink colour, at a varied contrast.
    background, ink_colour = _colours(gen, n)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    direction = _uniform(gen, n, 0, 2 * math.pi)
    ramp = torch.cos(direction).view(n, 1, 1) * xs + torch.sin(direction).view(n, 1, 1) * ys  # (n, size, size)
    shade = ramp * _uniform(gen, n, 0, 0.25).view(n, 1, 1)
    mottle = F.interpolate(
        torch.rand(n, 1, 4, 4, generator=gen) - 0.5, size=(size, size), mode="bilinear", align_corners=False
    )
    bg = background.view(n, 3, 1, 1) + shade.unsqueeze(1) + mottle * _uniform(gen, n, 0, 0.2).view(n, 1, 1, 1)
    image = torch.lerp(bg, ink_colour.view(n, 3, 1, 1), ink)  # (n, 3, size, size)

    # 3. Camera: blur and sensor noise.
    image = _blur(image, _uniform(gen, n, 0.3, 1.1) * size / 32)
    image += torch.randn(image.shape, generator=gen) * _uniform(gen, n, 0.0, 0.05).view(n, 1, 1, 1)
    if channels == 1:
        image = (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), digits[1]


def _chunk_generator(seed: int, start: int) -> torch.Generator:
    """Each chunk is drawn from its own generator: the same images at any count, drawn in any order."""
    return torch.Generator().manual_seed(seed * 1_000_003 + start)


def render_street_digits(count: int, seed: int, size: int = 32, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw `count` images (count, channels, size, size) uint8 and their labels (count,) int64."""
    masks, widths = _glyph_bank()
    images, labels = [], []
    for start in range(0, count, CHUNK):
        chunk = _render_chunk(_chunk_generator(seed, start), masks, widths, min(CHUNK, count - start), size, channels)
        images.append(chunk[0])
        labels.append(chunk[1])
    return torch.cat(images), torch.cat(labels)


def _cache_path(split: str, cache_dir: Path, count: int, size: int, channels: int) -> Path:
    return Path(cache_dir) / f"street-digits-v{RENDER_VERSION}-{split}-{count}-{size}px-{channels}ch.npz"


def _split(split: str, count: int | None) -> tuple[int, int]:
    """(count, seed) of a split: train 50,000 and test 10,000 unless a smaller count is asked for."""
    return count or (TRAIN_SIZE if split == "train" else TEST_SIZE), TRAIN_SEED if split == "train" else TEST_SEED


def _read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as cached:
            return torch.from_numpy(cached["images"]), torch.from_numpy(cached["labels"])
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)  # a damaged cache is redrawn, not trusted
        return None


class BackgroundDrawing:
    """A split drawn chunk by chunk in a thread, into tensors the trainer reads as they fill: training starts on
    the first chunk (a few seconds) instead of waiting for all 50,000 images (a minute on a busy 2-core CPU).
    The images are exactly those render_street_digits draws; the finished set is cached like load_street_digits'."""

    def __init__(self, split: str, cache_dir: Path, size: int, channels: int, count: int | None = None):
        self.count, self.seed = _split(split, count)
        self.images = torch.empty((self.count, channels, size, size), dtype=torch.uint8)
        self.labels = torch.empty(self.count, dtype=torch.int64)
        self.ready = 0  # images [0, ready) are drawn
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._cache = _cache_path(split, cache_dir, self.count, size, channels)
        self._thread = threading.Thread(target=self._draw, name="street-digits", daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        from dcgan.fileio import atomic_save_npz

        try:
            masks, widths = _glyph_bank()
            size, channels = self.images.shape[-1], self.images.shape[1]
            for start in range(0, self.count, CHUNK):
                n = min(CHUNK, self.count - start)
                images, labels = _render_chunk(_chunk_generator(self.seed, start), masks, widths, n, size, channels)
                self.images[start : start + n], self.labels[start : start + n] = images, labels
                with self._changed:
                    self.ready = start + n
                    self._changed.notify_all()
            try:
                atomic_save_npz(self._cache, images=self.images.numpy(), labels=self.labels.numpy())
            except OSError:
                pass  # a full or read-only disk: the set is drawn again next time, the run goes on
        except BaseException as err:  # handed to the trainer, which waits in wait_for
            with self._changed:
                self.error = err
                self._changed.notify_all()

    def wait_for(self, n: int) -> None:
        """Block until the first `n` images are drawn; the drawing thread's error, if it failed."""
        with self._changed:
            while self.ready < min(n, self.count) and self.error is None:
                self._changed.wait()
            if self.error is not None:
                raise self.error


def draw_in_background(
    split: str, cache_dir: Path, size: int = 32, channels: int = 3, count: int | None = None
) -> BackgroundDrawing | tuple[torch.Tensor, torch.Tensor]:
    """The split from its cache when drawn before, else a BackgroundDrawing that fills while training starts."""
    total, _ = _split(split, count)
    cached = _read_cache(_cache_path(split, cache_dir, total, size, channels))
    return cached if cached is not None else BackgroundDrawing(split, cache_dir, size, channels, count)


def load_street_digits(split: str, cache_dir: Path, size: int = 32, channels: int = 3, count: int | None = None):
    """The train (50,000) or test (10,000) split, drawn once and then read from `cache_dir`."""
    from dcgan.fileio import atomic_save_npz  # late: fileio is tiny, but keeps this module standalone

    count, seed = _split(split, count)
    path = _cache_path(split, cache_dir, count, size, channels)
    cached = _read_cache(path)
    if cached is not None:
        return cached
    images, labels = render_street_digits(count, seed, size, channels)
    atomic_save_npz(path, images=images.numpy(), labels=labels.numpy())
    return images, labels
