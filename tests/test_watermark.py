"""watermark: image, text and text+image watermarks, placed, blended and tiled as the OSS manuals say."""

import base64
import os
import time

import pytest
from PIL import Image, ImageChops

import plugins.operations  # noqa: F401
from conftest import open_image, process
from edge.pipeline import Pipeline
from edge.fonts import FONTS
from test_bad_input import assert_error

GREY, RED = (128, 128, 128), (255, 0, 0)
W, H = 400, 300


def b64(text: str, padded: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    return encoded if padded else encoded.rstrip("=")


@pytest.fixture(scope="module")
def marks(samples):
    """wm/base.png (grey 400x300), logos, a blank page, a file that is not an image, an animation."""
    folder = samples / "wm"
    folder.mkdir(exist_ok=True)
    Image.new("RGB", (W, H), GREY).save(folder / "base.png")
    Image.new("RGB", (W, H), (255, 255, 255)).save(folder / "white.png")
    Image.new("RGB", (40, 20), RED).save(folder / "logo.png")
    Image.new("RGB", (100, 100), RED).save(folder / "square.png")
    for name in ("one", "two", "three", "four"):
        Image.new("RGB", (10, 10), RED).save(folder / f"{name}.png")
    (folder / "notes.png").write_bytes(b"these are notes, not a picture")
    frames = [Image.new("RGB", (120, 80), colour) for colour in ((0, 0, 255), (0, 255, 0), (255, 255, 0))]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return folder


def render(server, proc: str, key: str = "wm/base.png", bucket: str = "test") -> Image.Image:
    return open_image(process(server, key, proc + "/format,png", bucket)).convert("RGB")


def box_of(im: Image.Image, test) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of the pixels for which `test(rgb)` holds."""
    mask = Image.new("L", im.size, 0)
    mask.putdata([255 if test(p) else 0 for p in pixels(im)])
    return mask.getbbox()


def pixels(im: Image.Image):
    """The (r, g, b) of every pixel of an RGB image, row by row."""
    data = im.tobytes()
    return zip(data[0::3], data[1::3], data[2::3])


def red(p):
    return p[0] > 200 and p[1] < 60 and p[2] < 60


def dark(p):
    return sum(p) < 200


LOGO = "image_" + b64("wm/logo.png")


@pytest.mark.parametrize("g, expected", [
    ("nw", (10, 10)), ("north", ((W - 40) // 2, 10)), ("ne", (W - 40 - 10, 10)),
    ("west", (10, (H - 20) // 2)), ("center", ((W - 40) // 2, (H - 20) // 2)), ("east", (W - 50, (H - 20) // 2)),
    ("sw", (10, H - 30)), ("south", ((W - 40) // 2, H - 30)), ("se", (W - 50, H - 30)),
])
def test_each_gravity_lands_in_its_region(server, marks, g, expected):
    im = render(server, f"image/watermark,{LOGO},g_{g}")
    left, top = expected
    assert box_of(im, red) == (left, top, left + 40, top + 20)


def test_default_gravity_is_south_east_ten_pixels_in(server, marks):
    assert box_of(render(server, f"image/watermark,{LOGO}"), red) == (W - 50, H - 30, W - 10, H - 10)


@pytest.mark.parametrize("params, expected", [
    ("g_nw,x_30,y_50", (30, 50)),
    ("g_se,x_30,y_50", (W - 40 - 30, H - 20 - 50)),
    ("g_ne,x_0,y_0", (W - 40, 0)),
    ("g_center,voffset_40", ((W - 40) // 2, (H - 20) // 2 + 40)),
    ("g_east,voffset_-40,x_5", (W - 45, (H - 20) // 2 - 40)),
    ("g_north,x_77,y_3", ((W - 40) // 2, 3)),  # x means nothing for a centred column
])
def test_margins_and_voffset_move_it_by_that_many_pixels(server, marks, params, expected):
    left, top = expected
    assert box_of(render(server, f"image/watermark,{LOGO},{params}"), red) == (left, top, left + 40, top + 20)


def test_t_50_blends_half_and_half(server, marks):
    im = render(server, f"image/watermark,{LOGO},g_nw,t_50")
    r, g, b = im.getpixel((20, 15))
    assert abs(r - (255 + 128) / 2) <= 2 and abs(g - 64) <= 2 and abs(b - 64) <= 2
    assert im.getpixel((100, 100)) == GREY
    assert render(server, f"image/watermark,{LOGO},g_nw,t_0").getpixel((20, 15)) == GREY


def test_fill_covers_the_whole_image(server, marks):
    im = render(server, f"image/watermark,{LOGO},fill_1,x_20,y_20")
    cell = 100
    for left in range(0, W, cell):
        for top in range(0, H, cell):
            assert box_of(im.crop((left, top, left + cell, top + cell)), red), (left, top)
    covered = sum(1 for p in pixels(im) if red(p)) / (W * H)
    assert 0.25 < covered < 0.6  # tiles 40x20 every 60x40


def test_fill_with_rotated_text_is_bounded_and_everywhere(server, marks):
    im = render(server, f"image/watermark,text_{b64('edge 水印')},size_20,rotate_30,fill_1,t_60", "wm/white.png")
    for left in range(0, W, 100):
        for top in range(0, H, 100):
            assert box_of(im.crop((left, top, left + 100, top + 100)), lambda p: sum(p) < 600), (left, top)


def test_p_scales_the_watermark_with_the_main_image(server, marks):
    mark = "image_" + b64("wm/square.png?x-oss-process=image/resize,P_10")
    big = box_of(render(server, f"image/watermark,{mark},g_nw,x_0,y_0"), red)
    small = box_of(render(server, f"image/resize,w_200/watermark,{mark},g_nw,x_0,y_0"), red)
    # 10 % of 400x300 is 40x30: the square logo fits as 30x30; of 200x150, as 15x15.
    assert big == (0, 0, 30, 30)
    assert small == (0, 0, 15, 15)


def test_preprocessing_resizes_crops_and_rotates_the_watermark(server, marks):
    crop = "image_" + b64("wm/square.png?x-oss-process=image/resize,w_50/crop,w_20,h_10/rotate,90")
    assert box_of(render(server, f"image/watermark,{crop},g_nw,x_0,y_0"), red) == (0, 0, 10, 20)


def test_chinese_text_draws_glyphs_in_its_box(server, marks):
    im = render(server, f"image/watermark,text_{b64('水印测试')},size_40,g_nw,x_20,y_30", "wm/white.png")
    left, top, right, bottom = box_of(im, dark)
    assert (left, top) == (20, 30) or abs(left - 20) <= 2 and abs(top - 30) <= 2
    assert 4 * 30 < right - left <= 4 * 42 and 30 <= bottom - top <= 44
    inked = sum(1 for p in pixels(im.crop((left, top, right, bottom))) if dark(p))
    assert 0.1 < inked / ((right - left) * (bottom - top)) < 0.7


@pytest.mark.parametrize("font", list(FONTS))
def test_every_font_of_the_manual_draws_chinese_and_latin_glyphs_not_boxes(server, marks, font):
    def drawn(text):
        im = render(server, f"image/watermark,text_{b64(text)},type_{b64(font)},size_32,g_nw,x_0,y_0", "wm/white.png")
        box = box_of(im, lambda p: sum(p) < 500)
        assert box is not None
        return im.crop(box)

    # A missing glyph is the same box for every character: different texts must draw differently.
    assert ImageChops.difference(drawn("水印"), drawn("图片")).getbbox() is not None
    assert ImageChops.difference(drawn("Hi"), drawn("Ok")).getbbox() is not None


def test_shadow_is_drawn_below_and_to_the_right(server, marks):
    text = f"text_{b64('影 AB')},size_45,g_nw,x_20,y_20"
    plain = box_of(render(server, f"image/watermark,{text}", "wm/white.png"), dark)
    # White text with a full shadow on white: only the shadow is visible.
    shadow = box_of(render(server, f"image/watermark,{text},color_FFFFFF,shadow_100", "wm/white.png"), dark)
    assert shadow[0] > plain[0] and shadow[1] > plain[1]
    assert shadow[2] > plain[2] and shadow[3] > plain[3]
    assert shadow[0] - plain[0] == shadow[1] - plain[1] == 3  # 45 px / 15


def test_color_and_rotate(server, marks):
    im = render(server, f"image/watermark,text_{b64('ABCDEFG')},size_30,color_FF0000,g_nw", "wm/white.png")
    left, top, right, bottom = box_of(im, red)
    assert right - left > bottom - top
    turned = render(server, f"image/watermark,text_{b64('ABCDEFG')},size_30,color_FF0000,rotate_90,g_nw", "wm/white.png")
    left, top, right, bottom = box_of(turned, red)
    assert bottom - top > right - left
    # The English manual's spelling: base64 of "#RRGGBB".
    english = render(server, f"image/watermark,text_{b64('ABCDEFG')},size_30,color_{b64('#FF0000')},g_nw", "wm/white.png")
    assert box_of(english, red) == box_of(im, red)


@pytest.mark.parametrize("order, align, interval", [(0, 0, 0), (1, 2, 25), (0, 1, 10)])
def test_text_and_image_are_laid_out_by_order_align_and_interval(server, marks, order, align, interval):
    proc = (f"image/watermark,{LOGO},text_{b64('ABC')},size_40,order_{order},align_{align},"
            f"interval_{interval},g_nw,x_10,y_10")
    im = render(server, proc, "wm/white.png")
    logo = box_of(im, red)
    text = box_of(im, dark)
    assert logo[2] - logo[0] == 40 and logo[3] - logo[1] == 20
    # Text edges are antialiased: the dark-pixel box of the text may be a pixel inside its ink.
    if order == 0:
        assert abs(text[0] - logo[2] - interval) <= 1 and logo[0] == 10
    else:
        assert abs(logo[0] - text[2] - interval) <= 1 and abs(text[0] - 10) <= 1
    if align == 0:
        assert abs(logo[1] - text[1]) <= 1
    elif align == 2:
        assert abs(logo[3] - text[3]) <= 1
    else:
        assert abs((logo[1] + logo[3]) - (text[1] + text[3])) <= 2


def test_several_watermarks_in_one_pipeline(server, marks):
    proc = (f"image/watermark,{LOGO},g_nw/watermark,{LOGO},g_se/"
            f"watermark,text_{b64('© edge')},size_20,g_center")
    im = render(server, proc)
    assert box_of(im.crop((0, 0, 100, 100)), red) and box_of(im.crop((300, 200, 400, 300)), red)
    assert box_of(im.crop((150, 130, 250, 170)), dark)


def test_an_animation_keeps_its_frames_with_the_watermark_on_each(server, marks):
    response = process(server, "wm/moving.gif", f"image/watermark,{LOGO},g_nw,x_0,y_0")
    im = open_image(response)
    assert im.n_frames == 3
    for index in range(3):
        im.seek(index)
        assert im.convert("RGB").getpixel((5, 5)) == RED


def test_the_watermark_image_comes_through_an_http_source_once(server, marks):
    im = render(server, f"image/watermark,{LOGO},g_nw", bucket="web")
    assert box_of(im, red) == (10, 10, 50, 30)
    # Another rendition with the same logo fetches nothing from the upstream: the logo and the main
    # image were both kept (edge.originals) by their ETags.
    fetches = server.metric("edge_source_fetch_seconds_count")
    im = render(server, f"image/resize,w_200/watermark,{LOGO},g_nw", bucket="web")
    assert box_of(im, red) == (10, 10, 50, 30)
    assert server.metric("edge_source_fetch_seconds_count") == fetches


def test_padded_and_unpadded_base64_are_one_rendition(server, marks):
    padded = process(server, "wm/base.png", f"image/watermark,text_{b64('abcd', padded=True)}")
    bare = process(server, "wm/base.png", f"image/watermark,text_{b64('abcd')},x_10,t_100,g_se")
    assert padded.status_code == bare.status_code == 200
    assert padded.headers["ETag"] == bare.headers["ETag"] and padded.content == bare.content


def test_a_replaced_watermark_image_makes_a_new_rendition(server, marks):
    logo = marks / "swap.png"
    Image.new("RGB", (40, 20), RED).save(logo)
    proc = "image/watermark,image_" + b64("wm/swap.png") + ",g_nw/format,png"
    first = process(server, "wm/base.png", proc)
    Image.new("RGB", (40, 20), (0, 0, 255)).save(logo)
    later = time.time() + 5
    os.utime(logo, (later, later))
    second = process(server, "wm/base.png", proc)
    assert first.headers["ETag"] != second.headers["ETag"]
    assert Image.open(__import__("io").BytesIO(second.content)).convert("RGB").getpixel((20, 15)) == (0, 0, 255)


def test_canonical_form_parses_back_and_drops_what_the_gravity_ignores():
    text = f"image/watermark,{LOGO},g_north,x_33,voffset_5,t_100"
    pipeline = Pipeline.parse(text)
    assert pipeline.canonical() == f"image/watermark,{LOGO},g_north"
    full = (f"image/watermark,image_{b64('wm/square.png?x-oss-process=image/resize,P_20/rotate,90')},"
            f"text_{b64('水印')},type_{b64('fangzhengkaiti')},color_00FF00,size_30,shadow_40,rotate_45,"
            "order_1,align_1,interval_5,fill_1,t_60,g_west,x_3,y_4,voffset_-7")
    parsed = Pipeline.parse(full)
    assert Pipeline.parse(parsed.canonical()) == parsed
    assert parsed.inputs() == ("wm/square.png",)


@pytest.mark.parametrize("proc, status, code, words", [
    ("image/watermark,image_@@@", 400, "WatermarkError", ["image", "base64"]),
    ("image/watermark,text_" + base64.urlsafe_b64encode(b"\xff\xfe").decode(), 400, "WatermarkError", ["text"]),
    ("image/watermark,image_" + b64("wm/absent.png"), 400, "WatermarkError", ["wm/absent.png", "does not exist"]),
    ("image/watermark,image_" + b64("../secret.jpg"), 400, "WatermarkError", ["../secret.jpg"]),
    ("image/watermark,image_" + b64("wm/notes.png"), 400, "WatermarkError", ["wm/notes.png", "not an image"]),
    ("/".join(["image"] + [f"watermark,image_{b64(f'wm/{n}.png')},g_nw,x_{i * 20}" for i, n in
                           enumerate(("one", "two", "three", "four"))]), 400, "WatermarkError", ["at most 3"]),
    ("image/watermark,text_" + b64("x" * 65), 400, "WatermarkError", ["text", "64"]),
    ("image/watermark,text_" + b64("水" * 22), 400, "WatermarkError", ["text", "66 bytes"]),
    ("image/watermark,text_" + b64("hi") + ",type_" + b64("comic-sans"), 400, "WatermarkError", ["type", "comic-sans"]),
    ("image/watermark,image_" + b64("wm/logo.png?x-oss-process=image/circle,r_10"), 400, "WatermarkError", ["circle"]),
    ("image/watermark,image_" + b64("wm/logo.png?x-oss-process=image/resize,P_101"), 400, "WatermarkError", ["P"]),
    ("image/watermark,image_" + b64("wm/logo.png?x-oss-process=image/resize,P_10,w_5"), 400, "WatermarkError", ["P"]),
    ("image/watermark,image_" + b64("wm/logo.png?x-oss-process=video/snapshot,t_1"), 400, "WatermarkError", ["image/"]),
    ("image/watermark,text_aGk,color_ZZZZZZ", 400, "InvalidArgument", ["color_ZZZZZZ"]),
    ("image/watermark,text_aGk,g_up", 400, "InvalidArgument", ["g_up"]),
    ("image/watermark,text_aGk,voffset_2000", 400, "InvalidArgument", ["voffset"]),
    ("image/watermark,text_aGk,size_0", 400, "InvalidArgument", ["size"]),
    ("image/watermark,text_aGk,t_101", 400, "InvalidArgument", ["t must be"]),
    ("image/watermark,t_50", 400, "MissingArgument", ["image or text"]),
    ("image/watermark,text_aGk,bogus_1", 400, "InvalidArgument", ["bogus"]),
])
def test_bad_watermarks_are_clear_400s(server, marks, proc, status, code, words):
    assert_error(process(server, "wm/base.png", proc), status, code, *words)


def test_the_same_image_may_be_used_several_times(server, marks):
    proc = "/".join(["image"] + [f"watermark,image_{b64(f'wm/{n}.png')},g_nw,x_{i * 20}" for i, n in
                                 enumerate(("one", "two", "three", "one"))])
    assert process(server, "wm/base.png", proc).status_code == 200


def test_the_largest_text_filled_over_a_large_image_answers_quickly(server, marks):
    big = marks / "big.jpg"
    Image.new("RGB", (4000, 3000), GREY).save(big, quality=70)
    started = time.monotonic()
    response = process(server, "wm/big.jpg", f"image/watermark,text_{b64('W' * 64)},size_1000,fill_1")
    assert response.status_code in (200, 400), response.text[:300]
    assert time.monotonic() - started < 15


def test_a_one_pixel_mark_filled_with_no_gap_stays_bounded(server, marks):
    Image.new("RGB", (1, 1), RED).save(marks / "dot.png")
    started = time.monotonic()
    im = render(server, "image/watermark,image_" + b64("wm/dot.png") + ",fill_1,x_0,y_0")
    assert time.monotonic() - started < 10
    assert box_of(im, red) is not None
