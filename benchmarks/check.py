"""Check one server answer against a workloads.Expect before it is timed.

Contract: ``check(status, headers, body, expect)`` returns a ``Verdict``.
``errors`` make the benchmark cell invalid (an error page, wrong format,
wrong size, a lost animation or alpha channel must never count as work
done); ``warnings`` are reported but do not invalidate (e.g. GIF frame
durations rounded differently).  Size is allowed +-1 px for rounding.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pillow_heif
from PIL import Image

from workloads import Expect

pillow_heif.register_heif_opener()  # AVIF is built into Pillow >= 11.3

# Leading bytes (or ftyp brands at offset 4) of each expected format.
MAGIC = {
    "JPEG": [b"\xff\xd8\xff"],
    "PNG": [b"\x89PNG\r\n\x1a\n"],
    "GIF": [b"GIF87a", b"GIF89a"],
    "WEBP": [b"RIFF"],
}
FTYP_BRANDS = {"HEIF": {b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"}, "AVIF": {b"avif", b"avis"}}


@dataclass
class Verdict:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _magic_ok(body: bytes, fmt: str) -> bool:
    if fmt in FTYP_BRANDS:
        return body[4:8] == b"ftyp" and body[8:12] in FTYP_BRANDS[fmt]
    if fmt == "WEBP" and body[8:12] != b"WEBP":
        return False
    return any(body.startswith(m) for m in MAGIC[fmt])


def check(status: int, headers: dict, body: bytes, expect: Expect) -> Verdict:
    v = Verdict(bytes=len(body))
    if status != 200:
        v.errors.append(f"HTTP {status}: {body[:160]!r}")
        return v
    if not _magic_ok(body, expect.fmt):
        v.errors.append(f"not {expect.fmt} (first bytes {body[:12]!r}, content-type {headers.get('content-type')})")
        return v
    try:
        im = Image.open(io.BytesIO(body))
        im.load()
    except Exception as exc:  # any decoder failure means a broken answer
        v.errors.append(f"Pillow cannot decode it: {exc}")
        return v
    if abs(im.width - expect.width) > 1 or abs(im.height - expect.height) > 1:
        v.errors.append(f"size {im.width}x{im.height}, expected {expect.width}x{expect.height}")
    frames = getattr(im, "n_frames", 1)
    if frames != expect.frames:
        v.errors.append(f"{frames} frame(s), expected {expect.frames}")
    if expect.alpha and not (im.mode in {"RGBA", "LA", "PA"} or "transparency" in im.info):
        v.errors.append(f"alpha channel lost (mode {im.mode})")
    if expect.durations_ms and frames == expect.frames:
        got = []
        for i in range(frames):
            im.seek(i)
            got.append(im.info.get("duration"))
        if tuple(got) != expect.durations_ms:
            v.warnings.append(f"frame durations {got}, source has {list(expect.durations_ms)}")
    ctype = headers.get("content-type", "")
    if not ctype.startswith("image/"):
        v.warnings.append(f"content-type {ctype!r}")
    return v
