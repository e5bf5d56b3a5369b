"""Render the digit glyph bank that street-digits composes its images from (dcgan/assets/digit_glyphs.npz).

Run once by a maintainer; the bank is committed so the dataset is the same on every machine,
whatever fonts it has. Needs Debian's fonts-dejavu-core (DejaVu fonts are free to redistribute:
Bitstream Vera licence) and Pillow's own bundled font.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CANVAS = 48  # glyph bitmap side
DIGIT_HEIGHT = 40  # pixels a digit's ink spans vertically inside the canvas
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FONTS = [
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSans-ExtraLight.ttf",
    "DejaVuSerifCondensed-Bold.ttf",
]


def render(font_for_size, digit: str) -> tuple[np.ndarray, float]:
    """Return (CANVAS x CANVAS uint8 mask of the digit, centred; ink width / CANVAS)."""
    probe = font_for_size(100)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), "0", font=probe)
    font = font_for_size(round(100 * DIGIT_HEIGHT / (bottom - top)))  # every font's "0" equally tall
    big = Image.new("L", (CANVAS * 3, CANVAS * 3))
    ImageDraw.Draw(big).text((CANVAS, CANVAS), digit, fill=255, font=font)
    box = big.getbbox()
    ink = big.crop(box)
    out = Image.new("L", (CANVAS, CANVAS))
    out.paste(ink, ((CANVAS - ink.width) // 2, (CANVAS - DIGIT_HEIGHT) // 2 + min(0, (DIGIT_HEIGHT - ink.height) // 2)))
    return np.asarray(out), ink.width / CANVAS


def main() -> None:
    makers = [lambda size, f=f: ImageFont.truetype(str(DEJAVU / f), size) for f in FONTS]
    makers.append(lambda size: ImageFont.load_default(size))  # Pillow's bundled Aileron
    masks = np.zeros((len(makers), 10, CANVAS, CANVAS), np.uint8)
    widths = np.zeros((len(makers), 10), np.float32)
    for i, make in enumerate(makers):
        for d in range(10):
            masks[i, d], widths[i, d] = render(make, str(d))
    out = Path(__file__).resolve().parent.parent / "dcgan" / "assets" / "digit_glyphs.npz"
    np.savez_compressed(out, masks=masks, widths=widths, fonts=np.array(FONTS + ["Pillow default (Aileron)"]))
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB): {len(makers)} fonts x 10 digits")


if __name__ == "__main__":
    main()
