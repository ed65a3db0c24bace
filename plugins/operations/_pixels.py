"""Helpers shared by the operations that change pixel values or shapes.

Frames in and out are in one of the working modes (RGB, RGBA, L, LA), and an
alpha channel keeps its meaning.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFilter

# Masks are drawn this many times larger, then reduced, so their edges are antialiased...
_SUPERSAMPLE = 4
_MASK_PIXELS = 1 << 24  # ...on a canvas of at most this many pixels (16 MB)


def map_levels(im: Image.Image, table: Sequence[int]) -> Image.Image:
    """Map every colour channel through `table` (256 levels, each 0-255); alpha is kept."""
    colour_bands = 3 if im.mode in ("RGB", "RGBA") else 1
    alpha = list(range(256)) if im.mode in ("RGBA", "LA") else []
    return im.point(list(table) * colour_bands + alpha)


def filter_frame(im: Image.Image, image_filter: ImageFilter.Filter) -> Image.Image:
    """Apply a neighbourhood filter; with alpha, on premultiplied colours so that the colour
    of fully transparent pixels (often black) does not bleed into the visible ones."""
    if im.mode not in ("RGBA", "LA"):
        return im.filter(image_filter)
    premultiplied = im.convert("RGBA").convert("RGBa")
    return premultiplied.filter(image_filter).convert("RGBA").convert(im.mode)


def shape_mask(size: tuple[int, int], draw_shape: Callable[[ImageDraw.ImageDraw, int], None]) -> Image.Image:
    """An antialiased mask (mode L) of `size`: 255 inside a shape, 0 outside.

    `draw_shape(draw, scale)` draws the shape in 255 on a canvas `scale`
    times larger, which is then reduced. The scale shrinks for big images so
    that the canvas stays within its budget (at 1x the edge is not smoothed).
    """
    scale = max(1, min(_SUPERSAMPLE, math.isqrt(_MASK_PIXELS // (size[0] * size[1]))))
    big = Image.new("L", (size[0] * scale, size[1] * scale), 0)
    draw_shape(ImageDraw.Draw(big), scale)
    return big if scale == 1 else big.resize(size, Image.Resampling.BOX)


def with_mask(im: Image.Image, mask: Image.Image) -> Image.Image:
    """`im` made transparent where `mask` is 0 (the encoder turns that white for formats
    without alpha, such as jpg); existing transparency is kept."""
    out = im.convert("RGBA" if im.mode in ("RGB", "RGBA") else "LA")
    out.putalpha(ImageChops.multiply(out.getchannel("A"), mask))
    return out
