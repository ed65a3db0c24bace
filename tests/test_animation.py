"""Animated GIF and WebP: every frame, each frame's duration and the loop count survive processing."""

import pytest
from PIL import Image, ImageDraw

from conftest import open_image, process

DURATIONS = [50, 60, 70, 80, 90]  # anim.gif (conftest): five solid 120x80 frames
STEP_DURATIONS = [40, 80, 120, 160]


def bar_frames() -> list[Image.Image]:
    """Four 120x80 frames on a transparent canvas, each adding a 20x40 bar right of the last.

    Saved as a GIF they are stored as small partial frames that the decoder
    must lay over the previous ones (disposal 1), with transparency around.
    """
    frames, canvas = [], Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    for i in range(4):
        canvas = canvas.copy()
        ImageDraw.Draw(canvas).rectangle([i * 30, 20, i * 30 + 19, 59], fill=(255, 60 * i, 0, 255))
        frames.append(canvas)
    return frames


@pytest.fixture(scope="module")
def animations(samples):
    folder = samples / "anim"
    folder.mkdir(exist_ok=True)
    frames = bar_frames()
    frames[0].save(folder / "bars.gif", save_all=True, append_images=frames[1:], duration=STEP_DURATIONS,
                   loop=0, disposal=1)
    frames[0].save(folder / "bars.webp", save_all=True, append_images=frames[1:], duration=STEP_DURATIONS,
                   loop=3, lossless=True)
    frames[0].save(folder / "once.gif", save_all=True, append_images=frames[1:], duration=STEP_DURATIONS)
    return folder


def frames_of(im: Image.Image) -> list[tuple[Image.Image, int]]:
    """Every frame of `im` as RGBA, with its duration in ms."""
    out = []
    for index in range(getattr(im, "n_frames", 1)):
        im.seek(index)
        frame = im.convert("RGBA")  # loading the frame is what fills in its duration
        out.append((frame, im.info.get("duration")))
    return out


@pytest.mark.parametrize("fmt, pillow_format", [("webp", "WEBP"), ("gif", "GIF")])
def test_a_resized_gif_keeps_its_frames_and_durations(server, fmt, pillow_format):
    response = process(server, "anim.gif", f"image/resize,w_60/format,{fmt}")
    im = open_image(response)
    assert response.headers["Content-Type"] == f"image/{fmt}"
    assert im.format == pillow_format and im.size == (60, 40)
    frames = frames_of(im)
    assert [duration for _, duration in frames] == DURATIONS
    assert im.info["loop"] == 0
    # The frames stay in order: anim.gif's red rises by 40 a frame.
    reds = [frame.getpixel((30, 20))[0] for frame, _ in frames]
    assert reds == sorted(reds) and reds[-1] - reds[0] > 120


def test_a_gif_without_format_stays_an_animated_gif(server):
    response = process(server, "anim.gif", "image/resize,w_60")
    assert response.headers["Content-Type"] == "image/gif"
    assert [d for _, d in frames_of(open_image(response))] == DURATIONS


def test_jpg_of_a_gif_is_its_first_frame(server):
    # The manual's example: format,jpg of a GIF.
    im = open_image(process(server, "anim.gif", "image/format,jpg"))
    assert im.format == "JPEG" and getattr(im, "n_frames", 1) == 1
    assert im.getpixel((60, 40))[0] < 20  # frame 0 is (0, 100, 200); the last is (160, 100, 40)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_partial_gif_frames_are_laid_over_the_previous_ones(server, animations, fmt):
    frames = frames_of(open_image(process(server, "anim/bars.gif", f"image/format,{fmt}")))
    assert [d for _, d in frames] == STEP_DURATIONS
    last = frames[-1][0]
    for i in range(4):  # every bar drawn so far is there, in its colour
        red, green, blue, alpha = last.getpixel((i * 30 + 10, 40))
        assert alpha == 255 and red > 240 and abs(green - 60 * i) < 12
    assert frames[0][0].getpixel((40, 40))[3] == 0  # bar 1 is not yet in frame 0
    assert last.getpixel((110, 5))[3] == 0  # and the canvas around stays transparent


def test_an_animated_webp_keeps_frames_durations_loop_and_transparency(server, animations):
    im = open_image(process(server, "anim/bars.webp", "image/resize,w_60"))
    assert im.format == "WEBP" and im.size == (60, 40) and im.info["loop"] == 3
    frames = frames_of(im)
    assert [d for _, d in frames] == STEP_DURATIONS
    red, green, blue, alpha = frames[0][0].getpixel((5, 25))
    assert alpha == 255 and red > 240 and green < 15 and blue < 15
    assert frames[0][0].getpixel((55, 5))[3] == 0


def test_a_gif_that_plays_once_still_plays_once_as_webp(server, animations):
    im = open_image(process(server, "anim/once.gif", "image/format,webp"))
    assert im.info["loop"] == 1 and im.n_frames == 4


@pytest.mark.parametrize("proc, size", [
    ("image/rotate,90/format,webp", (80, 120)),
    ("image/crop,w_100,h_40,g_center/format,webp", (100, 40)),
    # The manual allows animations one level of processing; we run every step on every frame.
    ("image/resize,w_100/crop,w_50,h_50,g_center/rotate,180/format,webp", (50, 50)),
    ("image/circle,r_30/format,webp", (61, 61)),
])
def test_geometry_runs_on_every_frame(server, animations, proc, size):
    # (Each region here differs from frame to frame: encoders merge identical neighbours, adding up their times.)
    frames = frames_of(open_image(process(server, "anim/bars.gif", proc)))
    assert len(frames) == 4 and [d for _, d in frames] == STEP_DURATIONS
    assert all(frame.size == size for frame, _ in frames)
    assert frames[0][0].tobytes() != frames[-1][0].tobytes()


def test_opaque_frames_are_worked_as_rgb_and_transparent_ones_as_rgba(samples, animations):
    # An RGBA frame costs a premultiplied resize and a slower quantizer: only where alpha can be.
    from edge.config import Limits
    from edge.render import _decode

    for key, mode in (("anim.gif", "RGB"), ("anim/bars.gif", "RGBA"), ("anim/bars.webp", "RGBA")):
        with Image.open(samples / key) as im:
            frames = _decode(im, keep_animation=True, limits=Limits())
        assert len(frames.images) > 1 and {frame.mode for frame in frames.images} == {mode}, key
