"""Any folder of images (flat or nested, e.g. CelebA's img_align_celeba), centre-cropped and resized.

Decoded once, in parallel threads (Pillow releases the GIL while decoding), and cached as one
uint8 array keyed by the folder's file list, so the second run starts at once. A folder too large
to hold in memory is streamed instead (FolderImages through a DataLoader; see batches.py).
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .datasets import DatasetUnavailable
from .fileio import atomic_save_npz

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DECODE_THREADS = 8


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
    """(channels, size, size) uint8: centre square crop, then resize; None for an unreadable file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            side = min(img.size)
            left, top = (img.width - side) // 2, (img.height - side) // 2
            img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side), reducing_gap=2.0)
            array = np.asarray(img)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


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
