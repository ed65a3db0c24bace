"""circle, indexcrop, rounded-corners, blur, bright, contrast, sharpen, info and average-hue."""

import json
import random

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageStat

import plugins.operations  # noqa: F401
from conftest import QUADRANTS, open_image, process
from edge.pipeline import Pipeline
from test_bad_input import assert_error

SOLID = (30, 120, 200)


@pytest.fixture(scope="module")
def shapes(samples):
    """Images whose answers are known: a solid colour, fine detail, a soft picture, rich EXIF."""
    folder = samples / "ops"
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (200, 100), SOLID).save(folder / "solid.png")
    noise = random.Random(7)
    detail = Image.new("L", (160, 120))
    detail.putdata([noise.choice((0, 255)) for _ in range(160 * 120)])
    detail.save(folder / "detail.png")
    soft = Image.new("L", (160, 120), 60)
    ImageDraw.Draw(soft).rectangle([40, 30, 119, 89], fill=190)
    soft.filter(ImageFilter.GaussianBlur(3)).save(folder / "soft.png")
    exif = Image.Exif()
    exif.update({0x0112: 1, 0x0131: "edge tests", 0x0132: "2026:01:02 03:04:05", 0x011A: 72.0})
    exif.get_ifd(0x8825).update({0x0000: b"\x02\x02\x00\x00", 0x0001: "N"})
    Image.new("RGB", (64, 32), SOLID).save(folder / "exif.jpg", quality=90, exif=exif)
    return folder


def luminance(im):
    return ImageStat.Stat(im.convert("L")).mean[0]


def spread(im):
    return ImageStat.Stat(im.convert("L")).stddev[0]


def edge_energy(im):
    """Mean strength of the edges: high for fine detail, low for a smooth picture."""
    return ImageStat.Stat(im.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]


def document(response):
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.content)


# -- circle (manual 2.4.1) ----------------------------------------------------

def test_circle_in_jpg_is_white_outside(server):
    # The manual's example: circle,r_100 keeps the smallest square around the circle, white outside.
    im = open_image(process(server, "photo.jpg", "image/circle,r_100"))
    assert im.format == "JPEG" and im.size == (201, 201)
    assert all(min(im.getpixel(corner)) >= 245 for corner in ((0, 0), (200, 0), (0, 200), (200, 200)))
    assert im.getpixel((100, 100)) != (255, 255, 255)


def test_circle_in_png_is_transparent_outside(server):
    im = open_image(process(server, "photo.jpg", "image/circle,r_100/format,png"))
    assert im.mode == "RGBA" and im.size == (201, 201)
    assert im.getpixel((0, 0))[3] == 0 and im.getpixel((200, 200))[3] == 0
    assert im.getpixel((100, 100))[3] == 255 and im.getpixel((100, 2))[3] == 255  # the top of the circle


def test_a_circle_larger_than_the_image_is_the_largest_inscribed_one(server):
    # 400x300: the radius becomes (300 - 1) / 2 = 149, a 299-pixel square.
    assert open_image(process(server, "photo.jpg", "image/circle,r_1000/format,png")).size == (299, 299)


def test_a_circle_on_a_big_image_is_cheap(server):
    # big.png is 4000x4000: the circle's square is 3999 pixels, its mask drawn without supersampling.
    im = open_image(process(server, "big.png", "image/circle,r_4096/resize,w_100/format,jpg"))
    assert im.size == (100, 100) and min(im.getpixel((0, 0))) >= 245


# -- indexcrop (manual 2.4.3) -------------------------------------------------

def test_indexcrop_x_takes_the_first_strip(server):
    # The manual's example: cut along x every 100 pixels, keep block 0.
    im = open_image(process(server, "quadrants.png", "image/indexcrop,x_100,i_0"))
    assert im.size == (100, 200)
    assert im.getpixel((50, 10)) == QUADRANTS["nw"] and im.getpixel((50, 190)) == QUADRANTS["sw"]


def test_indexcrop_y_counts_strips_from_the_top_and_the_last_is_what_is_left(server):
    im = open_image(process(server, "quadrants.png", "image/indexcrop,y_70,i_2"))
    assert im.size == (300, 60)  # 200 = 70 + 70 + 60
    assert im.getpixel((10, 30)) == QUADRANTS["sw"] and im.getpixel((290, 30)) == QUADRANTS["se"]


def test_indexcrop_past_the_last_strip_returns_the_original(server):
    # The manual's example: x_100,i_100 asks for block 100 of 3, and gets the whole image.
    im = open_image(process(server, "quadrants.png", "image/indexcrop,x_100,i_100"))
    assert im.size == (300, 200)


def test_indexcrop_with_both_axes_uses_y(server):
    assert open_image(process(server, "quadrants.png", "image/indexcrop,x_10,y_50,i_1")).size == (300, 50)


# -- rounded-corners (manual 2.4.4) -------------------------------------------

def test_rounded_corners_in_jpg_are_white_and_keep_the_size(server):
    im = open_image(process(server, "photo.jpg", "image/rounded-corners,r_30"))
    assert im.format == "JPEG" and im.size == (400, 300)
    assert min(im.getpixel((1, 1))) >= 240 and min(im.getpixel((398, 298))) >= 240
    assert im.getpixel((200, 1)) != (255, 255, 255)  # the straight edges are untouched


def test_crop_then_rounded_corners_in_png_are_transparent(server):
    # The manual's example (written there with a ',' where a '/' belongs).
    im = open_image(process(server, "photo.jpg", "image/crop,w_100,h_100/rounded-corners,r_10/format,png"))
    assert im.size == (100, 100) and im.mode == "RGBA"
    assert im.getpixel((0, 0))[3] == 0 and im.getpixel((99, 0))[3] == 0
    assert im.getpixel((50, 0))[3] == 255 and im.getpixel((50, 50))[3] == 255


# -- blur, bright, contrast, sharpen ------------------------------------------

def test_blur_lowers_the_fine_detail_and_more_blur_lowers_it_more(server, shapes):
    original = edge_energy(open_image(process(server, "ops/detail.png", "image/format,png")))
    light = edge_energy(open_image(process(server, "ops/detail.png", "image/blur,r_3,s_2")))
    heavy = edge_energy(open_image(process(server, "ops/detail.png", "image/blur,r_10,s_10")))
    assert heavy < light < original / 3


def test_blur_keeps_a_solid_colour(server, shapes):
    im = open_image(process(server, "ops/solid.png", "image/blur,r_5,s_5"))
    assert im.getpixel((100, 50)) == SOLID and im.getpixel((0, 0)) == SOLID


def test_bright_raises_and_lowers_the_mean_luminance(server):
    original = luminance(open_image(process(server, "photo.jpg", "image/format,png")))
    brighter = luminance(open_image(process(server, "photo.jpg", "image/bright,50/format,png")))
    darker = luminance(open_image(process(server, "photo.jpg", "image/bright,-50/format,png")))
    assert darker + 40 < original < brighter - 40
    assert open_image(process(server, "ops/solid.png", "image/bright,100")).getpixel((5, 5)) == (255, 255, 255)


def test_contrast_widens_and_narrows_the_spread(server, shapes):
    original = spread(open_image(process(server, "photo.jpg", "image/format,png")))
    more = spread(open_image(process(server, "photo.jpg", "image/contrast,50/format,png")))
    less = spread(open_image(process(server, "photo.jpg", "image/contrast,-50/format,png")))
    assert less < original * 0.6 and more > original * 1.3
    flat = open_image(process(server, "ops/soft.png", "image/contrast,-100"))
    assert flat.getextrema() == (128, 128)


def test_sharpen_raises_the_edge_strength_with_its_value(server, shapes):
    # soft.png is a blurred 190 square on 60: sharpening steepens its edges and overshoots both levels.
    original = open_image(process(server, "ops/soft.png", "image/format,png"))
    sharp = open_image(process(server, "ops/soft.png", "image/sharpen,100"))
    sharper = open_image(process(server, "ops/soft.png", "image/sharpen,300"))
    assert edge_energy(original) * 1.15 < edge_energy(sharp) < edge_energy(sharper)
    assert original.getextrema() == (60, 190)
    low, high = sharp.getextrema()
    assert low < 60 and high > 190


def test_filters_do_not_bleed_transparent_colour_into_the_picture(server):
    # alpha.png is a red disc on transparent black: a blur must not darken the disc's edge.
    im = open_image(process(server, "alpha.png", "image/blur,r_5,s_3"))
    red, green, blue, alpha = im.getpixel((100, 3))
    assert alpha > 0 and red > 150


# -- average-hue and info: JSON answers ---------------------------------------

def test_average_hue_of_a_solid_image_is_its_colour(server, shapes):
    assert document(process(server, "ops/solid.png", "image/average-hue")) == {"RGB": "0x1e78c8"}


def test_average_hue_of_a_region_and_of_a_transparent_image(server):
    assert document(process(server, "quadrants.png", "image/crop,w_100,h_80/average-hue")) == {"RGB": "0xff0000"}
    # Transparent pixels do not count: alpha.png is a (200, 30, 30) disc on transparent black.
    assert document(process(server, "alpha.png", "image/average-hue")) == {"RGB": "0xc81e1e"}


def test_average_hue_of_a_jpeg_photo_matches_its_pixels(server):
    answer = document(process(server, "photo.jpg", "image/average-hue"))["RGB"]
    pixels = open_image(process(server, "photo.jpg", "image/format,png"))
    expected = ImageStat.Stat(pixels).mean
    assert all(abs(int(answer[2 + 2 * i:4 + 2 * i], 16) - expected[i]) <= 3 for i in range(3))


def test_info_has_the_oss_shape(server, samples):
    info = document(process(server, "photo.jpg", "image/info"))
    assert info == {
        "FileSize": {"value": str((samples / "photo.jpg").stat().st_size)},
        "Format": {"value": "jpg"},
        "FrameCount": {"value": "1"},
        "ImageHeight": {"value": "300"},
        "ImageWidth": {"value": "400"},
    }


def test_info_lists_exif_fields_as_text(server, shapes):
    info = document(process(server, "ops/exif.jpg", "image/info"))
    assert all(set(field) == {"value"} and isinstance(field["value"], str) for field in info.values())
    assert info["Software"] == {"value": "edge tests"}
    assert info["DateTime"] == {"value": "2026:01:02 03:04:05"}
    assert info["XResolution"] == {"value": "72/1"}
    assert info["GPSLatitudeRef"] == {"value": "N"} and info["GPSVersionID"] == {"value": "2 2 0 0"}
    assert "GPSTag" in info and list(info) == sorted(info)


def test_info_gives_the_stored_size_and_the_orientation(server):
    # exif6.jpg is stored 300x200 and shown upright as 200x300.
    info = document(process(server, "exif6.jpg", "image/info"))
    assert info["ImageWidth"] == {"value": "300"} and info["Orientation"] == {"value": "6"}


def test_info_of_an_animation_counts_its_frames(server):
    info = document(process(server, "anim.gif", "image/info"))
    assert info["Format"] == {"value": "gif"} and info["FrameCount"] == {"value": "5"}


@pytest.mark.parametrize("proc, words", [
    ("image/resize,w_100/info", "info answers with JSON, so it cannot be combined with resize"),
    ("image/average-hue/rotate,90", "average-hue answers with JSON, so it cannot be combined with rotate"),
])
def test_a_json_answer_cannot_be_combined_with_later_operations(server, proc, words):
    assert_error(process(server, "photo.jpg", proc), 400, "InvalidArgument", words)


# -- canonical spellings and bad parameters -----------------------------------

@pytest.mark.parametrize("spellings", [
    ["image/bright,0/resize,w_5", "image/contrast,0/resize,w_5", "image/resize,w_5"],  # no-ops vanish
    ["image/bright,007", "image/bright,7"],
    ["image/blur,s_2,r_3", "image/blur,r_3,s_2"],
    ["image/indexcrop,x_10,i_0", "image/indexcrop,i_0,x_10", "image/indexcrop,x_10"],
    ["image/indexcrop,x_5,y_10,i_2", "image/indexcrop,y_10,i_2"],  # y wins
    ["image/resize,w_5/info", "image/info/resize,w_5"],  # info is a whole-image answer, wherever it stands
])
def test_spellings_of_one_answer_share_one_canonical_string(spellings):
    assert len({Pipeline.parse(text).canonical() for text in spellings}) == 1



@pytest.mark.parametrize("proc, code, words", [
    ("image/circle,r_0", "InvalidArgument", "circle: r must be in [1, 4096]"),
    ("image/circle,r_4097", "InvalidArgument", "circle: r must be in [1, 4096]"),
    ("image/circle,r_big", "InvalidArgument", "circle: r must be an integer"),
    ("image/circle", "MissingArgument", "circle: r is required"),
    ("image/circle,r_10,x_5", "InvalidArgument", "circle: unknown parameter x"),
    ("image/indexcrop,x_0", "InvalidArgument", "indexcrop: x must be in [1, 30000]"),
    ("image/indexcrop,y_0,i_1", "InvalidArgument", "indexcrop: y must be in [1, 30000]"),
    ("image/indexcrop,x_10,i_-1", "InvalidArgument", "indexcrop: i must be an integer"),
    ("image/indexcrop,x_10,i_30001", "InvalidArgument", "indexcrop: i must be in [0, 30000]"),
    ("image/indexcrop,i_1", "MissingArgument", "indexcrop: x or y is required"),
    ("image/indexcrop,x_10,z_1", "InvalidArgument", "indexcrop: unknown parameter z"),
    ("image/rounded-corners,r_0", "InvalidArgument", "rounded-corners: r must be in [1, 4096]"),
    ("image/rounded-corners,r_5000", "InvalidArgument", "rounded-corners: r must be in [1, 4096]"),
    ("image/rounded-corners,r_5,g_se", "InvalidArgument", "rounded-corners: unknown parameter g"),
    ("image/blur,r_0,s_5", "InvalidArgument", "blur: r must be in [1, 50]"),
    ("image/blur,r_51,s_5", "InvalidArgument", "blur: r must be in [1, 50]"),
    ("image/blur,r_5,s_51", "InvalidArgument", "blur: s must be in [1, 50]"),
    ("image/blur,r_5", "MissingArgument", "blur: s is required"),
    ("image/blur,r_5,s_5,g_face", "InvalidArgument", "blur: unknown parameter g"),
    ("image/bright,101", "InvalidArgument", "bright: the brightness must be an integer in [-100, 100]"),
    ("image/bright,-101", "InvalidArgument", "bright: the brightness must be an integer in [-100, 100]"),
    ("image/bright,+5", "InvalidArgument", "bright: the brightness must be an integer"),
    ("image/bright", "MissingArgument", "bright: missing the brightness"),
    ("image/contrast,-200", "InvalidArgument", "contrast: the contrast must be an integer in [-100, 100]"),
    ("image/contrast,5,6", "InvalidArgument", "contrast: expects one value"),
    ("image/sharpen,49", "InvalidArgument", "sharpen: the sharpness must be in [50, 399]"),
    ("image/sharpen,400", "InvalidArgument", "sharpen: the sharpness must be in [50, 399]"),
    ("image/info,x_1", "InvalidArgument", "info: unknown parameter x"),
    ("image/average-hue,1", "InvalidArgument", "average-hue: unexpected value 1"),
])
def test_bad_parameters_name_the_parameter(server, proc, code, words):
    assert_error(process(server, "photo.jpg", proc), 400, code, words)
