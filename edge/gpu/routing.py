"""Which renditions the GPU makes: a pure function of the source's JPEG header and the pipeline.

Never of load, nor of what else is queued: the same URL is routed the same
way on a given deployment, so it has one renderer and one ETag. The GPU
path makes 8-bit baseline YCbCr JPEG in (4:4:4, 4:2:2 or 4:2:0, no ICC
profile, no Adobe RGB transform, at least MIN_SIDE pixels a side), through
auto-orient, resize (lfit, mfit, fill, fixed; not pad), crop, rotate by a
right angle and quality, to baseline JPEG out. Everything else is made on
the CPU workers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edge.pipeline import Pipeline

HEAD_BYTES = 256 << 10  # where the frame header must begin; EXIF and its thumbnail fit in 64 KB
MIN_SIDE = 64  # smaller sources gain nothing from a GPU batch
_SUBSAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}  # luma (h, v); chroma 1x1


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG's markers say before its first scan. `baseline`: SOF0 (not extended, progressive,
    lossless or arithmetic); `sampling`: "4:2:0"... or "" for any other layout; `icc`: an ICC
    profile is embedded (APP2); `adobe_rgb`: an Adobe APP14 says the components are RGB, not YCbCr."""

    width: int
    height: int
    precision: int
    components: int
    baseline: bool
    sampling: str
    icc: bool = False
    adobe_rgb: bool = False


def read_jpeg_header(head: bytes) -> JpegHeader | None:
    """The header of the JPEG whose first bytes are `head`, or None when `head` is not the start of a
    JPEG or its frame header is not within it. Reads markers only; never raises on hostile bytes."""
    if head[:2] != b"\xff\xd8":
        return None
    icc = adobe_rgb = False
    at = 2
    while at + 4 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack_from("!H", head, at + 2)
        segment = head[at + 4:at + 2 + length]
        if length < 2 or len(segment) < length - 2:
            return None
        if marker == 0xE2 and segment.startswith(b"ICC_PROFILE\0"):
            icc = True
        elif marker == 0xEE and segment.startswith(b"Adobe") and len(segment) >= 12:
            adobe_rgb = segment[11] == 0
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return _frame(marker, segment, icc, adobe_rgb)
        elif marker in (0xDA, 0xD9):  # a scan or the end before any frame header
            return None
        at += 2 + length
    return None


def _frame(marker: int, segment: bytes, icc: bool, adobe_rgb: bool) -> JpegHeader | None:
    if len(segment) < 6:
        return None
    precision, height, width, components = struct.unpack_from("!BHHB", segment)
    factors = []
    for index in range(components):
        if len(segment) < 6 + 3 * index + 3:
            return None
        sampling = segment[6 + 3 * index + 1]
        factors.append((sampling >> 4, sampling & 15))
    layout = ""
    if components == 3 and factors[1] == factors[2] == (1, 1):
        layout = _SUBSAMPLING.get(factors[0], "")
    return JpegHeader(width, height, precision, components, marker == 0xC0, layout, icc, adobe_rgb)


def cpu_reason(header: JpegHeader | None, pipeline: Pipeline) -> str | None:
    """Why the rendition of a source with `header` by `pipeline` is made on the CPU, or None when the
    GPU path makes it. Pure: the same arguments always give the same answer."""
    if pipeline.medium != "image":
        return "not an image process"
    if header is None:
        return "the source is not a JPEG whose frame header is near its start"
    if not header.baseline or header.precision != 8:
        return "the source is not an 8-bit baseline JPEG"
    if header.components != 3 or not header.sampling or header.adobe_rgb:
        return "the source is not YCbCr with 4:4:4, 4:2:2 or 4:2:0 chroma"
    if header.icc:
        return "the source has an ICC profile (colour management runs on the CPU)"
    if min(header.width, header.height) < MIN_SIDE:
        return f"the source has a side under {MIN_SIDE} pixels"
    for step in pipeline.steps:
        gpu = step.on_gpu()  # each operation says what the GPU does for it, or why it cannot
        if isinstance(gpu, str):
            return gpu
    return None
