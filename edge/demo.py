"""The embedded default: a demo bucket of a few generated sample images in a local folder."""

from __future__ import annotations

import math
import os
from pathlib import Path

from PIL import Image, ImageDraw

DEMO_VERSION = "1"
SAMPLES = ("photo.jpg", "logo.png", "animated.gif", "portrait.jpg")


def demo_folder() -> Path:
    """Where the demo images live: $EDGE_DEMO_DIR, else ~/.cache/edge/demo."""
    base = os.environ.get("EDGE_DEMO_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edge", "demo")
    return Path(base)


def ensure_demo_images(folder: Path) -> Path:
    """Write the sample images into `folder` unless this version of them is already there."""
    marker = folder / ".edge-demo"
    if marker.exists() and marker.read_text() == DEMO_VERSION and all((folder / n).exists() for n in SAMPLES):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    landscape(1600, 1067).save(folder / "photo.jpg", quality=90)
    logo(512).save(folder / "logo.png")
    frames = bouncing_ball(320, 180, 12)
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    _portrait_with_exif(folder / "portrait.jpg")
    marker.write_text(DEMO_VERSION)
    return folder


def landscape(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB picture: sky gradient, sun, hills, texture. Deterministic for a `seed`."""
    sky = Image.linear_gradient("L").resize((width, height))
    im = Image.merge("RGB", (sky.point(lambda v: 40 + v // 3), sky.point(lambda v: 90 + v // 2),
                             sky.point(lambda v: 200 - v // 6)))
    draw = ImageDraw.Draw(im)
    sun = (int(width * (0.7 + 0.05 * (seed % 3))), int(height * 0.25))
    draw.ellipse([sun[0] - height // 10, sun[1] - height // 10, sun[0] + height // 10, sun[1] + height // 10],
                 fill=(255, 214, 110))
    for layer, colour in enumerate(((70, 120, 60), (40, 90, 45), (25, 60, 30))):
        base = height * (0.55 + 0.12 * layer)
        points = [(x, base - (height * 0.08) * math.sin(x / width * (3 + layer + seed) * math.pi))
                  for x in range(0, width + 40, 40)]
        draw.polygon([(0, height), *points, (width, height)], fill=colour)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(im, noise, 0.08)


def logo(side: int) -> Image.Image:
    """An RGBA mark on a transparent background."""
    im = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.ellipse([side // 8, side // 8, side * 7 // 8, side * 7 // 8], fill=(230, 90, 40, 255))
    draw.rectangle([side * 3 // 8, side * 3 // 8, side * 5 // 8, side * 5 // 8], fill=(255, 255, 255, 200))
    return im


def bouncing_ball(width: int, height: int, count: int) -> list[Image.Image]:
    """`count` frames of a ball crossing the picture."""
    frames = []
    for i in range(count):
        im = Image.new("RGB", (width, height), (245, 245, 240))
        draw = ImageDraw.Draw(im)
        x = int((width - 40) * i / max(1, count - 1)) + 20
        y = int(height / 2 + (height / 3) * math.sin(i / count * 2 * math.pi))
        draw.ellipse([x - 18, y - 18, x + 18, y + 18], fill=(40, 110, 220))
        frames.append(im)
    return frames


def _portrait_with_exif(path: Path) -> None:
    """A portrait photo stored sideways with EXIF orientation 6, as phones write them."""
    upright = landscape(600, 900, seed=1)
    ImageDraw.Draw(upright).text((20, 20), "UP", fill=(255, 255, 255))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, quality=88, exif=exif)
