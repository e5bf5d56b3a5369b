"""Any folder of images (flat or nested, e.g. CelebA's img_align_celeba), centre-cropped and resized.

Each file is read by image_file.py (every Pillow mode scaled right, upright, centre-cropped). A file that
cannot be used (not an image, damaged, too small, too large) is skipped, and every skip is kept with its
file name and reason, so the preview, the run's status, the command line and the app say what was left out.

Decoded once, in parallel threads (Pillow releases the GIL while decoding), and cached as one
uint8 array keyed by the folder's file list, so the second run starts at once. A folder too large
to hold in memory is streamed instead (FolderImages through a DataLoader; see batches.py).
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from dcgan.data.image_file import check_header, read_image, unreadable_image
from dcgan.errors import DatasetUnavailable, UnreadableImage
from dcgan.fileio import atomic_save_npz
from dcgan.images import image_grid

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DECODE_THREADS = 8
# In the cache file's key: bump it whenever decoding changes pixels or skips, so no run reuses a cache made
# by older rules (version 1 clipped 16-bit PNGs to white and float TIFFs to black).
DECODE_VERSION = 2
SKIPPED_NAMED = 5  # skipped files named in status.json, the command line and the app; the rest are counted
# Up to this many image files, the preview decodes them all (and caches them for the run), so it says exactly
# how many images the run will use; a larger folder (CelebA has 202,599) is previewed from a sample.
PREVIEW_CHECKS_ALL_UP_TO = 1_000


@dataclass(frozen=True)
class SkippedFile:
    file: str  # its path inside the folder
    reason: str  # UnreadableImage.reason


def image_files(folder: Path) -> list[Path]:
    """Every image below `folder`, in a stable order; a clear error if there are none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetUnavailable(f"image folder {folder} does not exist: give the path of a folder that holds images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetUnavailable(f"image folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _cache_key(files: list[Path], size: int, channels: int) -> str:
    digest = hashlib.sha1(f"{size}-{channels}-decode{DECODE_VERSION}".encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class LoadedFolder(NamedTuple):
    images: torch.Tensor  # (N, channels, size, size) uint8, the usable files in file order
    skipped: list[SkippedFile]  # the others, in file order


def load_folder(folder: Path, size: int, channels: int, cache_dir: Path, limit: int = 0, progress=None) -> LoadedFolder:
    """Every usable image of a folder, and every file skipped with why; `progress(done, total)` while decoding.
    The cache keeps both, so a second run reports the same skips."""
    files = image_files(folder)[: limit or None]
    cache = Path(cache_dir) / f"folder-{_cache_key(files, size, channels)}.npz"
    if cache.exists():
        with np.load(cache) as cached:
            skipped = [SkippedFile(str(f), str(r)) for f, r in zip(cached["skipped_files"], cached["skipped_reasons"])]
            return LoadedFolder(torch.from_numpy(cached["images"]), skipped)
    images = np.zeros((len(files), channels, size, size), np.uint8)
    kept, skipped = np.zeros(len(files), bool), []
    for i, (array, skip) in enumerate(_decode_each(files, folder, size, channels, progress)):
        if skip is None:
            images[i], kept[i] = array, True
        else:
            skipped.append(skip)
    if not kept.any():
        raise DatasetUnavailable(
            f"none of the {len(files)} image files in {folder} can be used "
            f"({describe_skipped(len(skipped), skipped)}): are they pictures?"
        )
    images = images[kept]
    atomic_save_npz(
        cache,
        images=images,
        skipped_files=np.array([s.file for s in skipped], dtype=str),
        skipped_reasons=np.array([s.reason for s in skipped], dtype=str),
    )
    return LoadedFolder(torch.from_numpy(images), skipped)


def _decode_each(files: list[Path], folder: Path, size: int, channels: int, progress=None):
    """(array, None) or (None, SkippedFile) for each file, in order, decoded in DECODE_THREADS threads."""

    def decode_one(path: Path):
        try:
            return read_image(path, size, channels), None
        except UnreadableImage as err:
            return None, SkippedFile(_inside(path, folder), err.reason)

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        for i, result in enumerate(pool.map(decode_one, files)):
            if progress and (i % 256 == 0 or i == len(files) - 1):
                progress(i + 1, len(files))
            yield result


def _inside(path: Path, folder: Path) -> str:
    """`path` as a person finds it in the folder: "a/b/photo.jpg"."""
    try:
        return path.relative_to(Path(folder).expanduser()).as_posix()
    except ValueError:
        return path.name


def header_problem(path: Path, folder: Path) -> SkippedFile | None:
    """Why a file cannot be used, judged from its header alone (no pixels decoded, so cheap enough for every
    file of a large folder): not an image, too small, too large. None when it looks usable."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            check_header(img, path)
    except UnreadableImage as err:
        return SkippedFile(_inside(path, folder), err.reason)
    except Exception as err:
        return SkippedFile(_inside(path, folder), unreadable_image(err, path).reason)
    return None


class FolderImages(torch.utils.data.Dataset):
    """One decoded image per item, for folders streamed through a DataLoader.

    Decoding every file before training would take as long as holding them, so only headers are checked when
    it is built: files that are not images, too small or too large are skipped (and listed in `skipped`). A file
    damaged past its header fails only when decoded; it is then replaced by the next usable file in the folder,
    the same one every time, and named on stderr (the run's log): a batch never holds a made-up image."""

    def __init__(self, folder: Path, size: int, channels: int, limit: int = 0):
        files = image_files(folder)[: limit or None]
        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            problems = list(pool.map(lambda f: header_problem(f, folder), files))
        self.files = [f for f, problem in zip(files, problems) if problem is None]
        self.skipped = [problem for problem in problems if problem is not None]
        if not self.files:
            raise DatasetUnavailable(
                f"none of the {len(files)} image files in {folder} can be used "
                f"({describe_skipped(len(self.skipped), self.skipped)}): are they pictures?"
            )
        self.folder, self.size, self.channels = folder, size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        for offset in range(len(self.files)):
            path = self.files[(index + offset) % len(self.files)]
            try:
                return torch.from_numpy(read_image(path, self.size, self.channels))
            except UnreadableImage as err:
                _say_once(
                    f"skipping {_inside(path, self.folder)} ({err.reason}): the next usable image of the "
                    "folder is trained on in its place"
                )
        raise DatasetUnavailable(f"none of the image files in {self.folder} could be decoded: are they pictures?")


_said: set[str] = set()


def _say_once(message: str) -> None:
    """Print to stderr (a background run's log) once per process: a damaged file comes round every epoch."""
    if message not in _said:
        _said.add(message)
        print(message, file=sys.stderr)


# -- what the preview, status.json, the command line and the app say about skipped files ---------------------
def describe_skipped(count: int, named) -> str:
    """ "3 files skipped: a.jpg (damaged or cut short), b.png (too small: 1x1) and 1 more"; `named` holds the
    first few as SkippedFile or (file, reason) pairs."""
    said = f"{count:,} file{'s' if count != 1 else ''} skipped"
    return f"{said}: {_name_skipped(count, named)}" if named else said


def _name_skipped(count: int, named) -> str:
    pairs = [(s.file, s.reason) if isinstance(s, SkippedFile) else tuple(s) for s in list(named)[:SKIPPED_NAMED]]
    more = f" and {count - len(pairs):,} more" if count > len(pairs) else ""
    return ", ".join(f"{file} ({reason})" for file, reason in pairs) + more


def skipped_report(skipped: list[SkippedFile]) -> dict:
    """status.json's `skipped_files`: the count and the first SKIPPED_NAMED by name and reason (kept small:
    the app reads status.json every second)."""
    return {"count": len(skipped), "first": [{"file": s.file, "reason": s.reason} for s in skipped[:SKIPPED_NAMED]]}


def describe_skipped_report(report) -> str | None:
    """describe_skipped for a status.json `skipped_files` field; None when nothing was skipped or the field is
    not what skipped_report writes (status.json may have been edited or damaged)."""
    if not isinstance(report, dict) or not isinstance(report.get("count"), int) or report["count"] <= 0:
        return None
    first = report.get("first")
    if not isinstance(first, list):
        first = []
    named = [(str(f.get("file")), str(f.get("reason"))) for f in first if isinstance(f, dict)]
    return describe_skipped(report["count"], named)


@dataclass
class FolderPreview:
    """What the Train page shows before a folder run: it unpacks as (count, grid) like every dataset's preview."""

    count: int  # the images the run will use when loaded whole, else the image files found
    grid: object  # a PIL grid of a few of them
    files: int  # image files found
    checked: int  # of them decoded for the preview: all of them, or a spread sample
    skipped: list[SkippedFile]  # among those checked
    whole: bool  # loaded as the run loads it, so `count` and `skipped` are the run's

    def __iter__(self):
        return iter((self.count, self.grid))

    def caption(self, size: int) -> str:
        """How many images and what was skipped, claiming no more than the preview checked."""
        if self.whole:
            said = f"{self.count:,} training image{'s' if self.count != 1 else ''} at {size} px — a few of them"
            if self.skipped:
                said += f". Of {self.files:,} image files, {describe_skipped(len(self.skipped), self.skipped)}"
            return said
        said = f"{self.files:,} image files at {size} px — a few of them"
        if self.skipped:
            said += (
                f". {len(self.skipped)} of the {self.checked} files sampled for this preview are skipped: "
                f"{_name_skipped(len(self.skipped), self.skipped)}"
            )
        return said + ". The run checks every file as it loads the folder, and says how many it skipped"


def preview_folder(
    folder: Path, size: int, channels: int, cache_dir: Path, limit: int = 0, count: int = 64
) -> FolderPreview:
    """A small folder is loaded whole, as the run will load it (and cached for it), so the preview's count and
    skips are the run's; a large one is counted and only `count` files spread over it are decoded."""
    files = image_files(folder)[: limit or None]
    if len(files) <= PREVIEW_CHECKS_ALL_UP_TO:
        images, skipped = load_folder(folder, size, channels, cache_dir, limit)
        shown = images[torch.linspace(0, len(images) - 1, min(count, len(images))).long()]
        return FolderPreview(len(images), image_grid(shown), len(files), len(files), skipped, whole=True)
    sample = [files[i] for i in torch.linspace(0, len(files) - 1, count).long().tolist()]
    decoded = list(_decode_each(sample, folder, size, channels))
    arrays = [array for array, _ in decoded if array is not None]
    skipped = [skip for _, skip in decoded if skip is not None]
    if not arrays:
        raise DatasetUnavailable(
            f"none of the {len(sample)} files sampled in {folder} can be used "
            f"({describe_skipped(len(skipped), skipped)}): are they pictures?"
        )
    grid = image_grid(torch.from_numpy(np.stack(arrays)))
    return FolderPreview(len(files), grid, len(files), len(sample), skipped, whole=False)
