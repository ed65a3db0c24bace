"""resize, as the OSS manual's examples describe it (sizes and pixels of real answers)."""

import pytest

from conftest import open_image, process

# The manual's worked example: a 200x100 source asked for w=150, h=80 in each mode.
@pytest.mark.parametrize("mode, size", [
    ("lfit", (150, 75)),
    ("mfit", (160, 80)),
    ("fill", (150, 80)),
    ("pad", (150, 80)),
    ("fixed", (150, 80)),
])
def test_each_mode_gives_the_manuals_size(server, mode, size):
    im = open_image(process(server, "small.jpg", f"image/resize,m_{mode},w_150,h_80"))
    assert im.size == size


@pytest.mark.parametrize("params, size", [
    ("h_100", (133, 100)),          # one side: the other follows the aspect ratio
    ("w_100", (100, 75)),
    ("l_100", (100, 75)),           # the long side of a 400x300 source
    ("s_100", (133, 100)),          # the short side
    ("m_fixed,h_100,w_100", (100, 100)),
    ("m_lfit,h_100,w_100", (100, 75)),
    ("m_mfit,h_100,w_100", (133, 100)),
    ("m_fill,h_100,w_100", (100, 100)),
    ("m_pad,h_100,w_100", (100, 100)),
    ("m_fill,w_100", (100, 100)),   # fixed-size modes make a square from one side
    ("p_50", (200, 150)),
    ("w_500", (400, 300)),          # limit_1 (default): never enlarged
    ("w_500,limit_0", (500, 375)),
    ("p_200", (400, 300)),
    ("p_200,limit_0", (800, 600)),
    ("w_100,l_50", (100, 75)),      # with w or h given, l and s do not count
])
def test_parameters(server, params, size):
    assert open_image(process(server, "photo.jpg", f"image/resize,{params}")).size == size


def test_pad_fills_with_the_colour_asked(server):
    im = open_image(process(server, "photo.jpg", "image/resize,m_pad,h_100,w_100,color_FF0000/format,png"))
    assert im.size == (100, 100)
    top = im.convert("RGB").getpixel((50, 2))
    assert top == (255, 0, 0)
    default = open_image(process(server, "photo.jpg", "image/resize,m_pad,h_100,w_100/format,png"))
    assert default.convert("RGB").getpixel((50, 2)) == (255, 255, 255)


def test_fill_crops_the_centre(server):
    # quadrants.png is 300x200; a 100x100 fill keeps the centre, where all four quadrants meet.
    im = open_image(process(server, "quadrants.png", "image/resize,m_fill,w_100,h_100")).convert("RGB")
    assert im.size == (100, 100)
    assert im.getpixel((5, 5))[0] > 200 and im.getpixel((5, 5))[1] < 60      # red, nw
    assert im.getpixel((94, 94))[:2] == pytest.approx((255, 255), abs=40)    # yellow, se


def test_jpeg_shrink_on_load_keeps_the_exact_size(server):
    # 400x300 -> 50 wide lets the decoder use a 1/4 DCT scale; the size must still be exact.
    assert open_image(process(server, "photo.jpg", "image/resize,w_50")).size == (50, 38)
    assert open_image(process(server, "photo.jpg", "image/resize,m_fixed,w_37,h_91")).size == (37, 91)


def test_resize_keeps_transparency(server):
    im = open_image(process(server, "alpha.png", "image/resize,w_100"))
    assert im.mode == "RGBA" and im.size == (100, 50)
    assert im.getpixel((0, 0))[3] == 0 and im.getpixel((50, 25))[3] == 255
