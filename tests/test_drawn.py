"""Drawings as WebP: a drawn GIF or PNG (flat colours) is written lossless, a resized one in its GIF
rendition's palette, so its WebP is smaller than its GIF rendition with the same pixels; photographs
and dithered clips stay lossy (docs/compression.md)."""

import io
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw
from skimage import data as skdata

from conftest import render
from edge import codecs, cost, registry
from edge.config import Limits
from edge.demo import bouncing_ball, landscape, logo
from edge.errors import InvalidArgument, OssError
from edge.frames import Frames, RenderContext
from edge.jobs import RenderJob
from edge.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bytes_corpus import cartoon_gif, video_frames, video_gif  # noqa: E402
from bytes_corpus import gif_frames as frames_of  # noqa: E402

registry.load_inherited()  # the operations a worker has


def rendition(source: bytes, process: str) -> bytes:
    return render(RenderJob(Pipeline.parse(process), Limits()), source)[1]


def gif(frames: list[Image.Image], **options) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0, **options)
    return out.getvalue()


def png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def chunks(webp: bytes) -> set[bytes]:
    """The FourCCs of an (animated) WebP's frame data: VP8 lossy, VP8L lossless."""
    found, at = set(), 12
    while at + 8 <= len(webp):
        fourcc, size = webp[at:at + 4], int.from_bytes(webp[at + 4:at + 8], "little")
        found.add(fourcc)
        at += 8 + size + size % 2 if fourcc != b"ANMF" else 8 + 16  # step into a frame's own chunks
    return found


def same_pixels(a: list[Image.Image], b: list[Image.Image]) -> bool:
    return len(a) == len(b) and all(ImageChops.difference(x, y).getbbox() is None for x, y in zip(a, b))


def chart(width: int = 400, height: int = 300) -> Image.Image:
    """A flat-colour bar chart with labels (anti-aliased text: a few hundred colours)."""
    im = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    draw.line((30, 20, 30, height - 30, width - 10, height - 30), fill=(0, 0, 0), width=2)
    for i in range(8):
        x = 40 + i * 45
        draw.rectangle((x, height - 40 - 25 * i, x + 30, height - 31), fill=((230, 85, 13), (49, 130, 189))[i % 2])
        draw.text((x + 4, height - 25), f"Q{i + 1}", fill=(0, 0, 0))
    draw.text((width // 2 - 60, 4), "Requests per second", fill=(0, 0, 0))
    return im


@pytest.fixture(scope="module")
def ball() -> bytes:
    return gif(bouncing_ball(320, 180, 8))


def test_a_drawn_gif_as_webp_is_its_own_frames_losslessly(ball):
    body = rendition(ball, "image/format,webp")
    assert chunks(body) >= {b"VP8L"} and b"VP8 " not in chunks(body)
    assert same_pixels(frames_of(body), frames_of(ball)) and len(body) < len(ball)


def test_a_resized_drawn_gif_as_webp_is_smaller_than_its_gif_rendition_with_the_same_pixels(ball):
    webp = rendition(ball, "image/resize,w_160/format,webp")
    as_gif = rendition(ball, "image/resize,w_160/format,gif")
    assert b"VP8L" in chunks(webp)
    assert same_pixels(frames_of(webp), frames_of(as_gif))
    assert len(webp) < 0.9 * len(as_gif), (len(webp), len(as_gif))
    assert rendition(ball, "image/resize,w_160/format,webp") == webp  # the same URL, the same bytes


def test_a_transparent_drawn_gif_keeps_its_transparency_resized_as_webp_and_as_gif():
    frames = []
    for i in range(4):
        im = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
        ImageDraw.Draw(im).ellipse((10 + 20 * i, 30, 60 + 20 * i, 80), fill=(250, 200, 30, 255))
        frames.append(im)
    source = gif(frames, disposal=2)
    for fmt in ("webp", "gif"):
        made = frames_of(rendition(source, f"image/resize,w_60/format,{fmt}"))
        assert len(made) == 4
        # The last frame's ball has moved on: where the first frame's ball was is transparent again
        # (a GIF whose frames were not cleared showed every earlier ball through).
        assert made[3].getpixel((15, 27))[3] == 0 and made[3].getpixel((47, 27))[3] > 250, fmt


def test_a_drawn_still_as_webp_is_lossless_and_smaller_than_lossy():
    source = png(chart())
    body = rendition(source, "image/format,webp")
    assert chunks(body) == {b"VP8X", b"VP8L"} or chunks(body) == {b"VP8L"}
    lossy = io.BytesIO()
    chart().save(lossy, "WEBP", quality=84, method=4)  # what the photo path would write
    assert len(body) < len(lossy.getvalue()) and len(body) < len(source)


def test_a_resized_drawn_still_is_lossless_in_a_palette_and_smaller_than_lossy():
    source = png(chart(800, 600))
    body = rendition(source, "image/resize,w_400/format,webp")
    reference = frames_of(rendition(source, "image/resize,w_400/format,png"))[0]
    lossy = io.BytesIO()
    reference.convert("RGB").save(lossy, "WEBP", quality=84, method=4)
    assert b"VP8L" in chunks(body) and len(body) < 0.6 * len(lossy.getvalue())
    got = frames_of(body)[0]
    assert got.size == reference.size and len(got.getcolors(256) or []) > 0  # at most 256 colours


def test_a_transparent_drawn_logo_stays_transparent_as_webp():
    body = rendition(png(logo(256)), "image/resize,w_100/format,webp")
    got = frames_of(body)[0]
    assert b"VP8L" in chunks(body) and got.getpixel((0, 0))[3] == 0 and got.getpixel((25, 50))[3] > 250


@pytest.mark.parametrize("photo", [lambda: Image.fromarray(skdata.astronaut()), lambda: Image.fromarray(skdata.moon()),
                                   lambda: landscape(400, 300).convert("L")])
def test_a_photograph_png_stays_lossy(photo):
    # The moon is a dark, smooth grey photograph: 0.17 byte a pixel as PNG, more than a colour
    # screenshot's 0.09 only per channel; so the measure is bytes per pixel and channel.
    body = rendition(png(photo()), "image/format,webp")
    assert b"VP8 " in chunks(body) and b"VP8L" not in chunks(body)


def test_a_dithered_gif_becomes_a_lossy_webp_and_a_drawn_one_a_lossless_one():
    clip = video_gif(video_frames(Image.fromarray(skdata.coffee()), (160, 90), 6))
    drawn = cartoon_gif((160, 120), 6)
    for source, kind in ((clip, b"VP8 "), (drawn, b"VP8L")):
        body = rendition(source, "image/format,webp")
        assert kind in chunks(body) and len(body) < len(source)
        with Image.open(io.BytesIO(body)) as webp:
            assert webp.n_frames == 6


def test_a_still_background_clip_is_no_drawing_though_its_gif_is_as_small():
    # A GIF keeps only what changed from frame to frame: a clip with a still, dithered background
    # stores in 0.04 byte a pixel, as a drawing does; its frames' palette indices tell them apart.
    photo = Image.fromarray(skdata.astronaut()).resize((320, 320)).crop((0, 70, 320, 250))
    palette = photo.quantize(256, method=Image.Quantize.MEDIANCUT)
    clip = []
    for i in range(40):
        frame = photo.copy()
        ImageDraw.Draw(frame).ellipse((10 + 6 * i, 150, 30 + 6 * i, 170), fill=(200, 40, 40))
        clip.append(frame.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG))
    source = gif(clip)
    assert len(source) < 0.1 * 320 * 180 * 40  # a drawing's size, by the source alone
    body = rendition(source, "image/format,webp")
    assert b"VP8 " in chunks(body) and b"VP8L" not in chunks(body) and len(body) < 0.7 * len(source)


def test_a_dithered_gif_stays_lossy_resized():
    clip = [landscape(160, 90, seed=i % 3).quantize(64, dither=Image.Dither.FLOYDSTEINBERG) for i in range(4)]
    body = rendition(gif(clip), "image/resize,w_80/format,webp")
    assert b"VP8 " in chunks(body) and b"VP8L" not in chunks(body)


def test_a_truncated_drawn_gif_is_a_clear_error(ball):
    with pytest.raises(OssError) as raised:
        rendition(ball[: len(ball) // 2], "image/resize,w_160/format,webp")
    assert raised.value.status == 400


def test_the_cost_estimate_counts_minimize_size_and_the_drawing_check():
    # libwebp's minimize_size and the palette check cost up to ~290 ns a frame pixel (benchmarks/cost.py),
    # not the 120 of a still photo's WebP: 20 frames of 1080p are over the budget before any decode.
    longer = cost.Source("GIF", (1920, 1080), (1920, 1080), frames=20)
    with pytest.raises(InvalidArgument, match=r"with format,webp the rendition of 20 frames of a 1920x1080 image"):
        cost.check(Pipeline.parse("image/format,webp"), longer, "webp", Limits())
    shorter = cost.Source("GIF", (1920, 1080), (1920, 1080), frames=6)
    assert cost.check(Pipeline.parse("image/format,webp"), shorter, "webp", Limits()) < Limits().work_budget_ms
    photo = cost.Source("JPEG", (1920, 1080), (1920, 1080), frames=1)
    assert cost.check(Pipeline.parse("image/format,webp"), photo, "webp", Limits()) < 400


def test_frames_that_fail_the_drawing_check_are_written_lossy():
    # A GIF that stored as a drawing, whose frames after the steps hold a photograph's detail:
    # its palette indices are no drawing's, so lossy (lossless would cost 2-5x the CPU, for more bytes).
    photo = Image.fromarray(skdata.astronaut()).resize((200, 200))
    frames = Frames([photo, photo.rotate(5)], [80, 80], 0)
    ctx = RenderContext(Limits(), "GIF", source_bytes=2000, source_size=(400, 400), source_frames=2,
                        output_format="webp")
    body, _ = codecs.encode(frames, ctx)
    assert b"VP8 " in chunks(body) and b"VP8L" not in chunks(body)
