"""Any folder of images (flat or nested, e.g. CelebA's img_align_celeba), centre-cropped and resized.

Every mode Pillow reads becomes 8-bit greyscale or RGB with its own scaling (to_channels): 16-bit and
32-bit integers, floats, palettes, CMYK, and transparency laid over white; phone photos are turned upright
by their EXIF tag; an animated GIF or a multi-page TIFF gives its first frame. A file that cannot be used
(not an image, damaged, too small, too large) is skipped, and every skip is kept with its file name and
reason, so the preview, the run's status, the command line and the app say what was left out.

Decoded once, in parallel threads (Pillow releases the GIL while decoding), and cached as one
uint8 array keyed by the folder's file list, so the second run starts at once. A folder too large
to hold in memory is streamed instead (FolderImages through a DataLoader; see batches.py).
"""
from __future__ import annotations

import hashlib
import math
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .datasets import DatasetUnavailable, image_grid
from .fileio import atomic_save_npz

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DECODE_THREADS = 8
MEGAPIXEL = 1_000_000
# The largest picture decoded. Above any photo people upload (a 48-megapixel phone photo fits) and far above
# a dataset's images, yet one decoded in RGB stays near 150 MB, times DECODE_THREADS decoding at once. The
# header is checked before decoding: a 48 KB PNG can claim 20000x20000 pixels, 1.2 GB once decoded.
MAX_IMAGE_PIXELS = 50 * MEGAPIXEL
# The smallest side a training picture may have. Below it, even the smallest model size (16 px) would be a
# blur of a few enlarged pixels with nothing to learn, and in a real folder such files are web beacons (1x1),
# favicons or leftovers, not pictures; 8 px still keeps tiny-but-real sets such as 8x8 sprites.
MIN_IMAGE_SIDE = 8
# Transparent pixels are laid over white, one fixed colour for the whole folder: pictures with transparency
# (icons, sprites, cut-out products, line art) are drawn to be seen on a light page, and dark strokes on a
# transparent ground would vanish over black. A per-image mean would give every image a different ground,
# one more thing for the GAN to learn that is not in the pictures.
ALPHA_BACKGROUND = (255, 255, 255)
# JPEGs decode at 1/2, 1/4 or 1/8 scale for little cost (Pillow's draft): a 12-megapixel photo shrunk to 64 px
# decodes about ten times faster. Drafted to at least twice the target side, so the final resize still
# averages over several pixels instead of picking one.
DRAFT_MARGIN = 2
EXIF_ORIENTATION = 0x0112
TIFF_BITS_PER_SAMPLE = 258
SIXTEEN_BIT_TO_8BIT = 65535 / 255  # = 257: 0 -> 0, 32768 -> 127.5, 65535 -> 255
# In the cache file's key: bump it whenever decoding changes pixels or skips, so no run reuses a cache made
# by older rules (version 1 clipped 16-bit PNGs to white and float TIFFs to black).
DECODE_VERSION = 2
SKIPPED_NAMED = 5  # skipped files named in status.json, the command line and the app; the rest are counted
# Up to this many image files, the preview decodes them all (and caches them for the run), so it says exactly
# how many images the run will use; a larger folder (CelebA has 202,599) is previewed from a sample.
PREVIEW_CHECKS_ALL_UP_TO = 1_000


class UnreadableImage(ValueError):
    """A file that cannot be used as a picture: not an image, damaged, too small or too large. The message names
    it and says what to do; `reason` is the short form a list of skipped files shows ("too small: 1x1")."""

    def __init__(self, message: str, reason: str = "cannot be used"):  # a default, so a pickled copy rebuilds
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SkippedFile:
    file: str    # its path inside the folder
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


def decode(path: Path, size: int, channels: int) -> np.ndarray | None:
    """(channels, size, size) uint8: centre square crop, then resize; None for a file that cannot be used."""
    try:
        return read_image(path, size, channels)
    except UnreadableImage:
        return None


def read_image(file, size: int, channels: int) -> np.ndarray:
    """One picture (a path or an open binary file) as (channels, size, size) uint8, upright, centre-cropped
    and resized; UnreadableImage, whose message names the file and says why, when it cannot be used."""
    from PIL import Image

    try:
        with Image.open(file) as img:  # reads the header only: nothing is decoded before the size is checked
            check_header(img, file)
            _draft(img, size)
            array = np.array(_crop_and_resize(to_channels(_upright(img), channels, file), size))  # writable
    except (UnreadableImage, MemoryError):
        raise
    except Exception as err:  # Pillow's plugins fail in many ways (OSError, SyntaxError, DecompressionBombError...)
        raise _unreadable(err, file) from None
    return array[None] if channels == 1 else np.ascontiguousarray(array.transpose(2, 0, 1))


def check_header(img, file) -> None:
    """UnreadableImage when the size in an opened picture's header is too large or too small to use."""
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise UnreadableImage(f"{_file_name(file)} is too large: {width}×{height} pixels "
                              f"({width * height / MEGAPIXEL:.0f} megapixels), more than the "
                              f"{MAX_IMAGE_PIXELS / MEGAPIXEL:.0f} megapixels allowed; make it smaller and try again",
                              f"too large: {width}x{height}")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise UnreadableImage(f"{_file_name(file)} is too small: {width}×{height} pixels, less than "
                              f"{MIN_IMAGE_SIDE} on a side; use a larger picture", f"too small: {width}x{height}")


def to_channels(img, channels: int, file="the picture"):
    """Any mode Pillow reads as 8-bit 'L' (channels 1) or 'RGB' (3), each scaled by what its values mean:
    16/32-bit integers and floats through _high_depth_to_8bit, transparency (alpha, palette or colour key)
    over ALPHA_BACKGROUND, CMYK by Pillow (which reads Adobe's inverted CMYK JPEGs right), '1' as 0 and 255."""
    img = _high_depth_to_8bit(img)
    try:
        if img.has_transparency_data:
            img = _over_background(img)
        return img.convert("L" if channels == 1 else "RGB")
    except ValueError:  # "conversion from X to RGBA not supported"
        raise UnreadableImage(f"{_file_name(file)} has the colour mode {img.mode}, which cannot be turned into "
                              "RGB: save it as an RGB or greyscale picture", f"colour mode {img.mode}") from None


def _high_depth_to_8bit(img):
    """Modes of more than 8 bits a value -> 'L'. Pillow's own convert clips them: 16-bit 32768 (mid-grey)
    became 255 and float 0.5 became 0. Other modes are returned as they are."""
    from PIL import Image

    if img.mode.startswith("I;16") or (img.mode == "I" and _bits_per_sample(img) == 16):
        values = np.asarray(img, dtype=np.float64) / SIXTEEN_BIT_TO_8BIT
    elif img.mode == "I":
        values = _integers_to_8bit(np.asarray(img, dtype=np.float64))
    elif img.mode == "F":
        values = _floats_to_8bit(np.asarray(img, dtype=np.float64))
    else:
        return img
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _bits_per_sample(img) -> int | None:
    """The bit depth a 32-bit 'I' image really holds, where the file says: PNG's deepest is 16, TIFF names it."""
    if img.format == "PNG":
        return 16
    tag = getattr(img, "tag_v2", {}).get(TIFF_BITS_PER_SAMPLE)
    return (tag[0] if isinstance(tag, tuple) else tag) if tag else None


def _integers_to_8bit(values: np.ndarray) -> np.ndarray:
    """A 32-bit integer image of unknown depth: values within 0..255 are 8-bit ones, within 0..65535 16-bit
    ones (how Pillow and most tools store those in 32 bits); anything wider has no standard white, so the
    image's own range is stretched over 0..255, as image viewers do for scientific data."""
    low, high = values.min(), values.max()
    if low >= 0 and high <= 255:
        return values
    if low >= 0 and high <= 65535:
        return values / SIXTEEN_BIT_TO_8BIT
    return _stretch(values, low, high)


def _floats_to_8bit(values: np.ndarray) -> np.ndarray:
    """A float image ('F', e.g. a 32-bit float TIFF). Real ones hold either 0..1 (the convention of image
    libraries and linear-light renders: 0.5 -> 128), whole numbers within 0..255 (8-bit values saved as floats),
    or physical quantities (depth in metres, heights, counts) with no standard white, which are stretched from
    the image's lowest to its highest value. NaN counts as the lowest value, +inf as the highest."""
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    if low >= 0 and high <= 1:
        return values * 255
    if low >= 0 and high <= 255 and np.array_equal(values, np.round(values)):
        return values
    return _stretch(values, low, high)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """low -> 0, high -> 255; an image of one value is black."""
    return (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)


def _over_background(img):
    """An image with transparency as RGB over ALPHA_BACKGROUND (see there for why white)."""
    from PIL import Image

    rgba = img.convert("RGBA")  # also turns a palette's or a colour key's transparent entry into alpha 0
    return Image.alpha_composite(Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,)), rgba).convert("RGB")


def _upright(img):
    """A phone stores the pixels as the sensor saw them plus an EXIF tag saying how to turn them: apply it,
    or the faces of a portrait photo lie on their side. Damaged EXIF data: the pixels as stored."""
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # Pillow's EXIF parser fails in many ways on damaged blocks
        return img
    return ImageOps.exif_transpose(img) if orientation != 1 else img


def _draft(img, size: int) -> None:
    """Let a JPEG decode at a reduced scale (see DRAFT_MARGIN); other formats ignore it."""
    scale = DRAFT_MARGIN * size / min(img.size)
    if img.format == "JPEG" and scale < 1:
        img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))


def _crop_and_resize(img, size: int):
    """The centre square, resized to size x size."""
    from PIL import Image

    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side), reducing_gap=2.0)


def _file_name(file) -> str:
    if isinstance(file, (str, Path)):
        return Path(file).name
    return str(getattr(file, "name", "the picture"))


def _unreadable(err: Exception, file) -> UnreadableImage:
    """The UnreadableImage for an error Pillow raised while opening or decoding `file`."""
    from PIL import Image, UnidentifiedImageError

    name = _file_name(file)
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        claimed = re.search(r"\((\d+) pixels\)", str(err))  # Pillow refused it in Image.open, saying only the count
        pixels = f"{int(claimed.group(1)) / MEGAPIXEL:,.0f} megapixels" if claimed else "far more pixels than allowed"
        return UnreadableImage(f"{name} is too large: its header claims {pixels}, more than the "
                               f"{MAX_IMAGE_PIXELS / MEGAPIXEL:.0f} megapixels allowed; make it smaller and try again",
                               f"too large: {pixels}")
    if isinstance(err, UnidentifiedImageError):
        return UnreadableImage(f"{name} is not an image Pillow can read: use a PNG, JPEG, BMP or WebP picture",
                               "not an image")
    if isinstance(err, FileNotFoundError):
        return UnreadableImage(f"{name} does not exist", "missing")
    return UnreadableImage(f"{name} could not be decoded ({type(err).__name__}): it looks damaged or cut short, "
                           "so save it again", "damaged or cut short")


def _cache_key(files: list[Path], size: int, channels: int) -> str:
    digest = hashlib.sha1(f"{size}-{channels}-decode{DECODE_VERSION}".encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class LoadedFolder(NamedTuple):
    images: torch.Tensor        # (N, channels, size, size) uint8, the usable files in file order
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
        raise DatasetUnavailable(f"none of the {len(files)} image files in {folder} can be used "
                                 f"({describe_skipped(len(skipped), skipped)}): are they pictures?")
    images = images[kept]
    atomic_save_npz(cache, images=images, skipped_files=np.array([s.file for s in skipped], dtype=str),
                    skipped_reasons=np.array([s.reason for s in skipped], dtype=str))
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
        return SkippedFile(_inside(path, folder), _unreadable(err, path).reason)
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
            raise DatasetUnavailable(f"none of the {len(files)} image files in {folder} can be used "
                                     f"({describe_skipped(len(self.skipped), self.skipped)}): are they pictures?")
        self.folder, self.size, self.channels = folder, size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        for offset in range(len(self.files)):
            path = self.files[(index + offset) % len(self.files)]
            try:
                return torch.from_numpy(read_image(path, self.size, self.channels))
            except UnreadableImage as err:
                _say_once(f"skipping {_inside(path, self.folder)} ({err.reason}): the next usable image of the "
                          "folder is trained on in its place")
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
    first = report.get("first") if isinstance(report.get("first"), list) else []
    named = [(str(f.get("file")), str(f.get("reason"))) for f in first if isinstance(f, dict)]
    return describe_skipped(report["count"], named)


@dataclass
class FolderPreview:
    """What the Train page shows before a folder run: it unpacks as (count, grid) like every dataset's preview."""
    count: int                  # the images the run will use when loaded whole, else the image files found
    grid: object                # a PIL grid of a few of them
    files: int                  # image files found
    checked: int                # of them decoded for the preview: all of them, or a spread sample
    skipped: list[SkippedFile]  # among those checked
    whole: bool                 # loaded as the run loads it, so `count` and `skipped` are the run's

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
            said += (f". {len(self.skipped)} of the {self.checked} files sampled for this preview are skipped: "
                     f"{_name_skipped(len(self.skipped), self.skipped)}")
        return said + ". The run checks every file as it loads the folder, and says how many it skipped"


def preview_folder(folder: Path, size: int, channels: int, cache_dir: Path, limit: int = 0,
                   count: int = 64) -> FolderPreview:
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
        raise DatasetUnavailable(f"none of the {len(sample)} files sampled in {folder} can be used "
                                 f"({describe_skipped(len(skipped), skipped)}): are they pictures?")
    grid = image_grid(torch.from_numpy(np.stack(arrays)))
    return FolderPreview(len(files), grid, len(files), len(sample), skipped, whole=False)
