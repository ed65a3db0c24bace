"""The corpus of benchmarks/bytes.py, made on the spot without downloads.

- `photos()`: real photographs, the colour samples scikit-image ships (its `data` module reads
  them from the wheel; only its optional datasets would be downloaded, and none is used).
- `graphics()`: stills that are not photographs: a drawn screenshot, a flat chart, scikit-image's
  logo (RGBA) and its scanned text page.
- `gifs()`: animated GIFs of four kinds, drawn from those photos and shapes: a video-like clip
  (a pan and zoom over a photo, a global palette, Floyd-Steinberg dithering), a flat-colour
  cartoon, a sticker with transparency, a screen recording; and the GIF scikit-image ships.

Everything is seeded or fixed, so one Pillow build gives the same corpus every time.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

try:
    from skimage import data as skdata
except ImportError:  # pragma: no cover - in the test extra
    skdata = None


@dataclass(frozen=True)
class Gif:
    name: str
    kind: str     # video, cartoon, sticker, screen, shipped
    data: bytes   # the GIF file


def gif_frames(data: bytes) -> list[Image.Image]:
    """Every frame of an animated (or still) image, whole, in RGBA."""
    with Image.open(io.BytesIO(data)) as im:
        frames = []
        for index in range(getattr(im, "n_frames", 1)):
            im.seek(index)
            frames.append(im.convert("RGBA"))
        return frames


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def photos() -> dict[str, Image.Image]:
    """The photographs (RGB), by name, at the size they ship (300x451 to 1411x1411)."""
    if skdata is None:
        raise RuntimeError("the compression corpus needs scikit-image: pip install -e '.[test]'")
    arrays = {
        "astronaut": skdata.astronaut(), "chelsea": skdata.chelsea(), "coffee": skdata.coffee(),
        "hubble": skdata.hubble_deep_field(), "ihc": skdata.immunohistochemistry(),
        "motorcycle": skdata.stereo_motorcycle()[0], "retina": skdata.retina(), "rocket": skdata.rocket(),
    }
    return {name: Image.fromarray(array).convert("RGB") for name, array in arrays.items()}


def screenshot(width: int = 1280, height: int = 800, typed_lines: int = 28, cursor: tuple[int, int] = (640, 400)) -> Image.Image:
    """A drawn application window: title bar, sidebar, text lines, buttons and a mouse pointer."""
    im = Image.new("RGB", (width, height), (246, 247, 249))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, width, 36), fill=(52, 58, 70))
    draw.text((16, 9), "edge - Dashboard", font=_font(16), fill=(235, 235, 240))
    draw.rectangle((0, 36, 220, height), fill=(230, 233, 238))
    body = _font(14)
    for i, item in enumerate(("Buckets", "Styles", "Transcode", "Cache", "Metrics", "Settings")):
        y = 56 + 34 * i
        if i == 2:
            draw.rectangle((8, y - 6, 212, y + 22), fill=(66, 133, 244))
        draw.text((24, y), item, font=body, fill=(255, 255, 255) if i == 2 else (40, 44, 52))
    rng = np.random.default_rng(7)
    words = ("image", "quality", "bytes", "cache", "render", "format", "webp", "heic", "resize", "origin")
    for line in range(typed_lines):
        text = " ".join(words[k] for k in rng.integers(0, len(words), 9))
        draw.text((250, 60 + 24 * line), text, font=body, fill=(30, 30, 30) if line % 7 else (180, 40, 40))
    for i in range(3):
        x = 250 + 130 * i
        draw.rounded_rectangle((x, height - 60, x + 110, height - 28), 6, fill=(66, 133, 244))
        draw.text((x + 22, height - 52), ("Save", "Cancel", "Purge")[i], font=body, fill=(255, 255, 255))
    x, y = cursor
    draw.polygon([(x, y), (x, y + 18), (x + 5, y + 14), (x + 12, y + 16)], fill=(0, 0, 0), outline=(255, 255, 255))
    return im


def chart(width: int = 800, height: int = 600) -> Image.Image:
    """A flat-colour bar chart with axes and labels, as a PNG graphic would be."""
    im = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    draw.line((60, 40, 60, height - 60, width - 30, height - 60), fill=(0, 0, 0), width=2)
    colours = ((230, 85, 13), (49, 130, 189), (49, 163, 84), (117, 107, 177))
    rng = np.random.default_rng(3)
    for i, value in enumerate(rng.integers(80, height - 120, 12)):
        x = 80 + i * 58
        draw.rectangle((x, height - 60 - int(value), x + 40, height - 61), fill=colours[i % 4])
        draw.text((x + 8, height - 50), f"Q{i % 4 + 1}", font=_font(13), fill=(0, 0, 0))
    draw.text((width // 2 - 80, 10), "Requests per second", font=_font(18), fill=(0, 0, 0))
    return im


def graphics() -> dict[str, Image.Image]:
    """Stills that are not photographs, by name (RGB or RGBA)."""
    stills = {"screenshot": screenshot(), "chart": chart()}
    if skdata is not None:
        stills["logo"] = Image.fromarray(skdata.logo())  # RGBA
        stills["text"] = Image.fromarray(skdata.text()).convert("RGB")
    return stills


def _gif(frames: list[Image.Image], duration: int, **options) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0, **options)
    return out.getvalue()


def video_frames(photo: Image.Image, size: tuple[int, int] = (480, 270), count: int = 30) -> list[Image.Image]:
    """A slow pan and zoom over `photo`: the clip before it is made a GIF (RGB frames)."""
    width, height = photo.size
    frames = []
    for i in range(count):
        zoom = 1.0 - 0.25 * i / count
        w = width * zoom
        h = min(w * size[1] / size[0], height)
        left, top = (width - w) * i / count, (height - h) / 2
        frames.append(photo.resize(size, Image.Resampling.BILINEAR, box=(left, top, left + w, top + h)))
    return frames


def video_gif(frames: list[Image.Image]) -> bytes:
    """`frames` as a video clip turned GIF: one global 256-colour palette, Floyd-Steinberg dithered."""
    palette = frames[0].quantize(256, method=Image.Quantize.MEDIANCUT)
    return _gif([f.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for f in frames], 67)


def cartoon_gif(size: tuple[int, int] = (320, 240), count: int = 24) -> bytes:
    """A ball bouncing over a flat sky and lawn, flat colours and hard edges."""
    width, height = size
    frames = []
    for i in range(count):
        im = Image.new("RGB", size, (120, 190, 240))
        draw = ImageDraw.Draw(im)
        draw.rectangle((0, height * 3 // 4, width, height), fill=(80, 170, 60))
        draw.ellipse((20, 20, 70, 70), fill=(250, 220, 40))
        x = 20 + (width - 80) * i / count
        y = height * 3 // 4 - 50 - abs(math.sin(i / count * 2 * math.pi)) * 100
        draw.ellipse((x, y, x + 50, y + 50), fill=(220, 40, 40), outline=(0, 0, 0), width=3)
        frames.append(im.quantize(16, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    return _gif(frames, 80)


def sticker_gif(side: int = 240, count: int = 16) -> bytes:
    """A waving star face on a transparent background, as chat stickers are."""
    frames = []
    for i in range(count):
        im = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        draw = ImageDraw.Draw(im)
        angle = math.radians(12 * math.sin(i / count * 2 * math.pi))
        c, r = side / 2, side * 0.42
        points = [(c + (r if k % 2 == 0 else r / 2.3) * math.sin(angle + k * math.pi / 5),
                   c - (r if k % 2 == 0 else r / 2.3) * math.cos(angle + k * math.pi / 5)) for k in range(10)]
        draw.polygon(points, fill=(255, 200, 30, 255), outline=(120, 60, 0, 255), width=4)
        draw.ellipse((c - 30, c - 20, c - 14, c - 4), fill=(40, 20, 0, 255))
        draw.ellipse((c + 14, c - 20, c + 30, c - 4), fill=(40, 20, 0, 255))
        draw.arc((c - 28, c - 10, c + 28, c + 30), 20, 160, fill=(40, 20, 0, 255), width=4)
        alpha = im.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
        paletted = im.convert("RGB").quantize(31, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        paletted.paste(31, mask=Image.eval(alpha, lambda a: 255 - a))
        paletted.info["transparency"] = 31
        frames.append(paletted)
    return _gif(frames, 60, transparency=31, disposal=2)


def screen_gif(count: int = 30) -> bytes:
    """A screen recording: text typed line by line while the pointer moves."""
    frames = [screenshot(640, 400, typed_lines=3 + i // 3, cursor=(300 + 6 * i, 200 + 3 * i)) for i in range(count)]
    palette = frames[-1].quantize(64, method=Image.Quantize.MEDIANCUT)
    return _gif([f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames], 100)


def clips() -> dict[str, list[Image.Image]]:
    """The clips the video-like GIFs are made from, by the GIF's name."""
    shots = photos()
    return {"video-coffee": video_frames(shots["coffee"]), "video-motorcycle": video_frames(shots["motorcycle"])}


def gifs() -> list[Gif]:
    """The animated GIFs, the video-like ones first."""
    made = [Gif(name, "video", video_gif(frames)) for name, frames in clips().items()]
    made += [Gif("cartoon", "cartoon", cartoon_gif()), Gif("sticker", "sticker", sticker_gif()),
             Gif("screen", "screen", screen_gif())]
    with open(skdata.__path__[0] + "/no_time_for_that_tiny.gif", "rb") as f:
        made.append(Gif("skimage-tiny", "shipped", f.read()))
    return made
