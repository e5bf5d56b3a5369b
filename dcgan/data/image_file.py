"""One picture file as the GAN's input: (channels, size, size) uint8, upright, centre-cropped and resized.

Every mode Pillow reads becomes 8-bit greyscale or RGB with its own scaling (to_channels): 16-bit and
32-bit integers, floats, palettes, CMYK, and transparency laid over white; phone photos are turned upright
by their EXIF tag; an animated GIF or a multi-page TIFF gives its first frame. A file that cannot be used
(not an image, damaged, too small, too large) raises UnreadableImage, whose message names the file and
says why: folder.py skips and lists such files, the projection upload shows the message.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from dcgan.errors import UnreadableImage

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
PNG_HEADER_READ = 65536  # bytes read to find a PNG's sBIT chunk: it must come before the image data


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
        raise unreadable_image(err, file) from None
    return array[None] if channels == 1 else np.ascontiguousarray(array.transpose(2, 0, 1))


def check_header(img, file) -> None:
    """UnreadableImage when the size in an opened picture's header is too large or too small to use."""
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise UnreadableImage(
            f"{_file_name(file)} is too large: {width}×{height} pixels "
            f"({width * height / MEGAPIXEL:.0f} megapixels), more than the "
            f"{MAX_IMAGE_PIXELS / MEGAPIXEL:.0f} megapixels allowed; make it smaller and try again",
            f"too large: {width}x{height}",
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise UnreadableImage(
            f"{_file_name(file)} is too small: {width}×{height} pixels, less than "
            f"{MIN_IMAGE_SIDE} on a side; use a larger picture",
            f"too small: {width}x{height}",
        )


def to_channels(img, channels: int, file="the picture"):
    """Any mode Pillow reads as 8-bit 'L' (channels 1) or 'RGB' (3), each scaled by what its values mean:
    16/32-bit integers and floats through _high_depth_to_8bit, transparency (alpha, palette or colour key)
    over ALPHA_BACKGROUND, CMYK by Pillow (which reads Adobe's inverted CMYK JPEGs right), '1' as 0 and 255."""
    img = _high_depth_to_8bit(img, file)
    try:
        if img.has_transparency_data:
            img = _over_background(img)
        return img.convert("L" if channels == 1 else "RGB")
    except ValueError:  # "conversion from X to RGBA not supported"
        raise UnreadableImage(
            f"{_file_name(file)} has the colour mode {img.mode}, which cannot be turned into "
            "RGB: save it as an RGB or greyscale picture",
            f"colour mode {img.mode}",
        ) from None


def _high_depth_to_8bit(img, file=None):
    """Modes of more than 8 bits a value -> 'L'. Pillow's own convert clips them: 16-bit 32768 (mid-grey)
    became 255 and float 0.5 became 0. Other modes are returned as they are."""
    from PIL import Image

    if img.mode.startswith("I;16") or (img.mode == "I" and _bits_per_sample(img) == 16):
        values = np.asarray(img, dtype=np.float64)
        bits = png_significant_bits(file) if img.format == "PNG" and file is not None else None
        # A 12-bit camera or scanner PNG marks its depth with an sBIT chunk. The PNG spec asks writers to scale
        # such values up to 16 bits, but many store them as they are (0..4095): read as 16-bit, those pictures
        # come out almost black. Values that fit the marked depth are scaled from it; larger ones were scaled.
        if bits and bits < 16 and values.max() <= 2**bits - 1:
            values = values * 255 / (2**bits - 1)
        else:
            values = values / SIXTEEN_BIT_TO_8BIT
    elif img.mode == "I":
        values = _integers_to_8bit(np.asarray(img, dtype=np.float64))
    elif img.mode == "F":
        values = _floats_to_8bit(np.asarray(img, dtype=np.float64))
    else:
        return img
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def png_significant_bits(file) -> int | None:
    """The greyscale depth a PNG's sBIT chunk gives (Pillow does not read it), or None: the chunks before the
    image data are walked from the file's start; a file object is read from its start and put back."""
    import struct

    if isinstance(file, (str, Path)):
        with open(file, "rb") as handle:
            head = handle.read(PNG_HEADER_READ)
    else:
        position = file.tell()
        file.seek(0)
        head, _ = file.read(PNG_HEADER_READ), file.seek(position)
    at = 8  # after the PNG signature
    while at + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[at : at + 8])
        if kind == b"sBIT" and length >= 1 and at + 9 <= len(head):
            return head[at + 8] or None
        if kind == b"IDAT":
            return None
        at += 12 + length  # length, type, data, CRC
    return None


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
    return img.resize(
        (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side), reducing_gap=2.0
    )


def _file_name(file) -> str:
    if isinstance(file, (str, Path)):
        return Path(file).name
    return str(getattr(file, "name", "the picture"))


def unreadable_image(err: Exception, file) -> UnreadableImage:
    """The UnreadableImage for an error Pillow raised while opening or decoding `file`."""
    from PIL import Image, UnidentifiedImageError

    name = _file_name(file)
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        claimed = re.search(r"\((\d+) pixels\)", str(err))  # Pillow refused it in Image.open, saying only the count
        pixels = f"{int(claimed.group(1)) / MEGAPIXEL:,.0f} megapixels" if claimed else "far more pixels than allowed"
        return UnreadableImage(
            f"{name} is too large: its header claims {pixels}, more than the "
            f"{MAX_IMAGE_PIXELS / MEGAPIXEL:.0f} megapixels allowed; make it smaller and try again",
            f"too large: {pixels}",
        )
    if isinstance(err, UnidentifiedImageError):
        return UnreadableImage(
            f"{name} is not an image Pillow can read: use a PNG, JPEG, BMP or WebP picture", "not an image"
        )
    if isinstance(err, FileNotFoundError):
        return UnreadableImage(f"{name} does not exist", "missing")
    return UnreadableImage(
        f"{name} could not be decoded ({type(err).__name__}): it looks damaged or cut short, so save it again",
        "damaged or cut short",
    )
