"""info: the stored file's size, format, dimensions and EXIF fields, as JSON (OSS image processing: info)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from PIL import ExifTags, Image, TiffImagePlugin

from edge.codecs import format_of_source
from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, operation

# The IFD pointers under the names OSS answers with (exiv2's); other tags keep Pillow's names.
_POINTERS = {ExifTags.IFD.Exif: "ExifTag", ExifTags.IFD.GPSInfo: "GPSTag", ExifTags.IFD.Interop: "InteroperabilityTag"}
_LONGEST = 1024  # characters: longer values (maker notes, thumbnails) are binary blobs, left out
_SHORT_BYTES = 8  # binary fields up to this long are byte lists (versions, flags), written as numbers


@operation("info", stage="decode")
@dataclass(frozen=True)
class Info(Operation):
    """Answer `{"<Field>": {"value": "<text>"}, ...}`, fields sorted by name (the OSS shape).

    Always: FileSize (bytes of the stored object), Format (jpg, png, gif,
    webp, bmp, tiff, heic, avif), FrameCount, ImageHeight and ImageWidth (as
    stored, before auto-orient; Orientation tells how to turn it). Then the
    EXIF fields the file has (image, Exif and GPS IFDs): integers as decimal
    text, rationals as "n/d", sequences and short byte lists space-separated;
    longer binary fields are left out.

    It reads the header only, and stands alone: the renderer refuses it
    together with a pixel operation (OSS), and ignores format or quality.
    """

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        width, height = ctx.source_size
        fields = dict(_exif_fields(ctx.source_exif)) if ctx.source_exif is not None else {}
        fields.update(FileSize=str(ctx.source_bytes), Format=format_of_source(ctx.source_format),
                      FrameCount=str(ctx.source_frames), ImageHeight=str(height), ImageWidth=str(width))
        ctx.document = {name: {"value": fields[name]} for name in sorted(fields)}
        return frames


def _exif_fields(exif: Image.Exif) -> Iterator[tuple[str, str]]:
    yield from _named(exif.items(), ExifTags.TAGS)
    for ifd, names in ((ExifTags.IFD.Exif, ExifTags.TAGS), (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS)):
        try:
            entries = exif.get_ifd(ifd).items()
        except Exception:  # a broken sub-IFD must not fail the answer
            continue
        yield from _named(entries, names)


def _named(entries, names: dict[int, str]) -> Iterator[tuple[str, str]]:
    for tag, value in entries:
        name = _POINTERS.get(tag) or names.get(tag)
        text = _text(value)
        if name and text is not None:
            yield name, text


def _text(value) -> str | None:
    """EXIF `value` as OSS writes it, or None for a value that is binary or too long."""
    if isinstance(value, TiffImagePlugin.IFDRational):
        text = f"{value.numerator}/{value.denominator}"
    elif isinstance(value, (int, float)):
        text = f"{value:g}" if isinstance(value, float) else str(value)
    elif isinstance(value, (bytes, str)):
        raw = value.decode("latin-1") if isinstance(value, bytes) else value
        text = raw.strip("\x00 ")
        if not text.isprintable():
            if not isinstance(value, bytes) or len(value) > _SHORT_BYTES:
                return None
            text = " ".join(str(byte) for byte in value)  # GPSVersionID and the like: "2 2 0 0"
    elif isinstance(value, tuple) and value:
        parts = [_text(part) for part in value]
        if any(part is None for part in parts):
            return None
        text = " ".join(parts)
    else:
        return None
    return text if len(text) <= _LONGEST else None
