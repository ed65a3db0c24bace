"""Originals too small for the pixels their header claims are refused before decoding; whole ones,
however flat, are not."""

import io
import struct

import pytest
from PIL import Image

import plugins.operations  # noqa: F401
from conftest import render
from edge.config import Limits
from edge.errors import BadRequest, ImageTooLarge
from edge.jobs import RenderJob
from edge.pipeline import Pipeline


def encoded(im: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """`jpeg` with its frame header saying `width` x `height`."""
    at = jpeg.find(b"\xff\xc0")
    return jpeg[:at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9:]


def made(raw: bytes, process: str = "image/format,png") -> tuple[dict, bytes]:
    return render(RenderJob(Pipeline.parse(process), Limits()), raw)


def test_a_633_byte_jpeg_claiming_9000x11000_is_refused_as_truncated_before_decoding():
    liar = claiming(encoded(Image.new("RGB", (16, 16), (120, 30, 30)), "JPEG", quality=90), 9000, 11000)
    assert len(liar) < 700
    for process in ("image/format,png", "image/resize,w_300", "image/format,jpg"):
        with pytest.raises(BadRequest, match=r"truncated: its \d+ bytes cannot hold the 9000x11000 pixels"):
            made(liar, process)


@pytest.mark.parametrize("im, fmt, options", [
    (Image.new("RGB", (4000, 3000), (5, 5, 5)), "JPEG", {"quality": 10, "progressive": True, "optimize": True}),
    (Image.new("L", (4000, 3000), 0), "JPEG", {"quality": 1}),
    (Image.new("1", (6000, 6000), 0), "PNG", {"optimize": True}),
    (Image.new("P", (4000, 4000), 0), "GIF", {}),
])
def test_the_flattest_whole_images_are_not_taken_for_truncated(im, fmt, options):
    meta, _ = made(encoded(im, fmt, **options), "image/resize,w_100")
    assert meta["width"] == 100


def test_a_webp_wider_than_webp_holds_is_refused_naming_the_format_not_an_exception():
    wide = encoded(Image.new("RGB", (17000, 60), (10, 200, 30)), "PNG")
    with pytest.raises(ImageTooLarge) as refused:
        made(wide, "image/format,webp")
    assert refused.value.message == ("format,webp: the result is 17000x60, and WEBP holds at most 16383 pixels a "
                                     "side; ask for a smaller size or another format")
    assert made(wide, "image/resize,w_16383/format,webp")[0]["width"] == 16383
