"""edge.images: one way to open an image nobody vouches for; Pillow's errors become the caller's."""

import io

import pytest
from PIL import Image

from edge.images import open_image, reading


class NotAnImage(Exception):
    pass


class Corrupt(Exception):
    pass


def png(size=(8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def test_an_image_opens_lazily_with_its_header_read():
    im = open_image(png(), NotAnImage, Corrupt)
    assert (im.format, im.size) == ("PNG", (8, 6))


@pytest.mark.parametrize("raw", [b"", b"hello, not an image", b"\x00" * 64])
def test_bytes_that_are_no_image_raise_the_callers_error(raw):
    with pytest.raises(NotAnImage):
        open_image(raw, NotAnImage, Corrupt)


def test_a_format_not_asked_for_is_not_an_image():
    with pytest.raises(NotAnImage):
        open_image(png(), NotAnImage, Corrupt, formats=("JPEG",))


def test_truncated_pixels_raise_the_callers_corrupt_error_when_decoded():
    raw = png((64, 64))
    im = open_image(raw[:len(raw) // 2], NotAnImage, Corrupt)
    with pytest.raises(Corrupt), reading(Corrupt):
        im.load()
