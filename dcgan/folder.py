"""Any folder of images (flat or nested, e.g. CelebA's img_align_celeba), centre-cropped and resized.

Decoded once, in parallel threads (Pillow releases the GIL while decoding), and cached as one
uint8 array keyed by the folder's file list, so the second run starts at once. A folder too large
to hold in memory is streamed instead (FolderImages through a DataLoader; see batches.py).
"""
from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .datasets import DatasetUnavailable
from .fileio import atomic_save_npz

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DECODE_THREADS = 8
MEGAPIXEL = 1_000_000
# The largest picture decoded. Above any photo people upload (a 48-megapixel phone photo fits) and far above
# a dataset's images, yet one decoded in RGB stays near 150 MB, times DECODE_THREADS decoding at once. The
# header is checked before decoding: a 48 KB PNG can claim 20000x20000 pixels, 1.2 GB once decoded.
MAX_IMAGE_PIXELS = 50 * MEGAPIXEL


class UnreadableImage(ValueError):
    """A file that cannot be used as a picture: not an image, damaged, or too large. The message names it."""


def image_files(folder: Path) -> list[Path]:
    """Every image below `folder`, in a stable order; a clear error if there are none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetUnavailable(f"image folder {folder} does not exist: give the path of a folder that holds images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetUnavailable(f"image folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def decode(path: Path, size: int, channels: int) -> np.ndarray | None:
    """(channels, size, size) uint8: centre square crop, then resize; None for a file that is unreadable or
    too large (folders skip those)."""
    try:
        return read_image(path, size, channels)
    except UnreadableImage:
        return None


def read_image(file, size: int, channels: int) -> np.ndarray:
    """decode() for one picture a person chose (a path or an open binary file): UnreadableImage, whose message
    names the file and says why, instead of None."""
    from PIL import Image

    try:
        with Image.open(file) as img:  # reads the header only: nothing is decoded before the size is checked
            _check_pixel_count(img.size, file)
            img = img.convert("L" if channels == 1 else "RGB")
            side = min(img.size)
            left, top = (img.width - side) // 2, (img.height - side) // 2
            img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side), reducing_gap=2.0)
            array = np.asarray(img)
    except (UnreadableImage, MemoryError):
        raise
    except Exception as err:  # Pillow's plugins fail in many ways (OSError, SyntaxError, DecompressionBombError...)
        raise UnreadableImage(_why_unreadable(err, file)) from None
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _file_name(file) -> str:
    if isinstance(file, (str, Path)):
        return Path(file).name
    return str(getattr(file, "name", "the picture"))


def _check_pixel_count(size: tuple[int, int], file) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise UnreadableImage(f"{_file_name(file)} is too large: {width}×{height} pixels "
                              f"({width * height / MEGAPIXEL:.0f} megapixels), more than the "
                              f"{MAX_IMAGE_PIXELS / MEGAPIXEL:.0f} megapixels allowed; make it smaller and try again")


def _why_unreadable(err: Exception, file) -> str:
    from PIL import Image, UnidentifiedImageError

    name = _file_name(file)
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        claimed = re.search(r"\((\d+) pixels\)", str(err))  # Pillow refused it in Image.open, saying only the count
        pixels = f"{int(claimed.group(1)) / MEGAPIXEL:,.0f} megapixels" if claimed else "far more pixels than allowed"
        return (f"{name} is too large: its header claims {pixels}, more than the "
                f"{MAX_IMAGE_PIXELS / MEGAPIXEL:.0f} megapixels allowed; make it smaller and try again")
    if isinstance(err, UnidentifiedImageError):
        return f"{name} is not an image Pillow can read: use a PNG, JPEG, BMP or WebP picture"
    if isinstance(err, FileNotFoundError):
        return f"{name} does not exist"
    return f"{name} could not be decoded ({type(err).__name__}): it looks damaged or cut short, so save it again"


def _cache_key(files: list[Path], size: int, channels: int) -> str:
    digest = hashlib.sha1(f"{size}-{channels}".encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def load_folder(folder: Path, size: int, channels: int, cache_dir: Path, limit: int = 0, progress=None) -> torch.Tensor:
    """All images of a folder as (N, channels, size, size) uint8; `progress(done, total)` while decoding."""
    files = image_files(folder)
    if limit:
        files = files[:limit]
    cache = Path(cache_dir) / f"folder-{_cache_key(files, size, channels)}.npz"
    if cache.exists():
        with np.load(cache) as cached:
            return torch.from_numpy(cached["images"])
    images = np.zeros((len(files), channels, size, size), np.uint8)
    readable = np.zeros(len(files), bool)
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        for i, array in enumerate(pool.map(lambda f: decode(f, size, channels), files)):
            if array is not None:
                images[i], readable[i] = array, True
            if progress and (i % 256 == 0 or i == len(files) - 1):
                progress(i + 1, len(files))
    if not readable.any():
        raise DatasetUnavailable(f"none of the {len(files)} image files in {folder} could be read: are they images?")
    images = images[readable]
    atomic_save_npz(cache, images=images)
    return torch.from_numpy(images)


class FolderImages(torch.utils.data.Dataset):
    """One decoded image per item, for folders streamed through a DataLoader; unreadable files are skipped."""

    def __init__(self, folder: Path, size: int, channels: int, limit: int = 0):
        self.files = image_files(folder)[: limit or None]
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        array = decode(self.files[index], self.size, self.channels)
        if array is None:
            array = np.zeros((self.channels, self.size, self.size), np.uint8)  # rare: keeps batch shapes fixed
        return torch.from_numpy(array)
