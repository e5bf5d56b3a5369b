"""PNGs deeper than 8 bits that mark their real depth (sBIT): a 12-bit camera or scanner picture stored as it came
(0..4095 in 16-bit samples) keeps its brightness, where reading it as 16-bit made it almost black."""

import io
import struct
import zlib

import numpy as np
from PIL import Image

from dcgan.data.image_file import png_significant_bits, read_image


def png_with_sbit(values: np.ndarray, bits: int | None) -> bytes:
    """A 16-bit greyscale PNG of `values`, with an sBIT chunk saying `bits` right after its header."""
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(buffer, format="PNG")
    data = buffer.getvalue()
    if bits is None:
        return data
    header_end = 8 + 8 + 13 + 4  # signature, then IHDR's length, type, 13 bytes of data and CRC
    body = b"sBIT" + bytes([bits])
    chunk = struct.pack(">I", 1) + body + struct.pack(">I", zlib.crc32(body))
    return data[:header_end] + chunk + data[header_end:]


def grey_level(data: bytes, tmp_path) -> np.ndarray:
    path = tmp_path / "deep.png"
    path.write_bytes(data)
    from_file = read_image(path, 16, 1)[0].astype(int)
    upload = io.BytesIO(data)
    upload.read(5)  # an upload part-read: the sBIT look-up reads from the start and puts the position back
    assert np.array_equal(read_image(upload, 16, 1)[0].astype(int), from_file)
    return from_file


def test_a_12_bit_png_stored_as_it_came_keeps_its_brightness(tmp_path):
    mid_grey = png_with_sbit(np.full((32, 32), 2048), 12)
    assert png_significant_bits(io.BytesIO(mid_grey)) == 12
    assert np.all(np.abs(grey_level(mid_grey, tmp_path) - 128) <= 1)  # as 16-bit it read 8: almost black
    white = png_with_sbit(np.full((32, 32), 4095), 12)
    assert np.all(grey_level(white, tmp_path) == 255)


def test_a_12_bit_png_scaled_to_16_bits_as_the_spec_asks_is_read_as_16_bit(tmp_path):
    scaled = png_with_sbit(np.full((32, 32), 2048 * 16), 12)  # values above 4095: the writer scaled them
    assert np.all(np.abs(grey_level(scaled, tmp_path) - 128) <= 1)


def test_without_sbit_a_dark_16_bit_png_stays_dark(tmp_path):
    dark = png_with_sbit(np.full((32, 32), 2048), None)
    assert png_significant_bits(io.BytesIO(dark)) is None
    assert np.all(grey_level(dark, tmp_path) == 8)  # 2048 / 257: nothing says it is anything but 16-bit
