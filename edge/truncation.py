"""Originals too small to hold the pixels their header claims: truncated, refused before decoding.

A 633-byte JPEG whose header says 9000x11000 is within the size limits, and the
decoder would fill the missing 99 megapixels with grey, at full cost. Each entropy
coder has a floor on the bytes it needs per pixel, so a file under that floor cannot
be a whole image:

- JPEG with Huffman coding: every 8x8 block of every scan costs at least one bit
  (a DC difference code), so at least pixels / 512 bytes. Arithmetic-coded JPEGs
  (rare) can go below that, and are not judged.
- PNG: deflate compresses at most 1032:1, and a row holds at least a filter byte
  and one bit per pixel.
- GIF: an LZW code (at most 12 bits) stands for at most 4096 pixels.

Other formats (WebP, HEIF, AVIF, BMP, TIFF) are left to their decoders, which stop
at the end of the data.
"""

from __future__ import annotations

import math

from PIL import Image

from edge.errors import BadRequest

_ARITHMETIC_SOF = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def check(im: Image.Image, raw: bytes) -> None:
    """BadRequest when the bytes `raw` of `im` cannot hold the `im.size` pixels its header claims."""
    width, height = im.size
    pixels, size = width * height, len(raw)
    if im.format in ("JPEG", "MPO"):
        if _frame_marker(raw) in _ARITHMETIC_SOF:
            return
        floor = pixels / 512
    elif im.format == "PNG":
        floor = height * (1 + math.ceil(width / 8)) / 1032
    elif im.format == "GIF":
        floor = pixels / 4096
    else:
        return
    if size < floor:
        raise BadRequest(f"the source image is truncated: its {size} bytes cannot hold the {width}x{height} "
                         f"pixels its {im.format} header claims (at least {math.ceil(floor)} bytes)")


def _frame_marker(raw: bytes) -> int | None:
    """The SOFn marker's second byte (0xC0-0xCF) of the JPEG in `raw`, walking its segments."""
    pos = 2
    while pos + 4 <= len(raw) and raw[pos] == 0xFF:
        marker = raw[pos + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # not DHT, JPG, DAC
            return marker
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        pos += 2 + int.from_bytes(raw[pos + 2:pos + 4], "big")
    return None
