"""circle,r_<radius>: cut the largest centred circle of radius r (OSS manual 2.4.1)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.geometry import MAX_RADIUS
from edge.params import integer
from edge.pipeline import Operation, operation
from plugins.operations._pixels import shape_mask, with_mask


@operation("circle")
@dataclass(frozen=True)
class Circle(Operation):
    """Keep a circle of radius `r` around the image's centre, in the smallest square that holds it.

    The result is (2r + 1) pixels square. A radius past half the shorter side
    becomes (shorter side - 1) / 2, the largest inscribed circle (current
    OSS). Outside the circle the result is transparent, which the encoder
    turns white for formats without alpha (jpg), as the manual asks.
    """

    r: int = integer(1, MAX_RADIUS)

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The (left, top, right, bottom) square of a `width` x `height` image that holds the circle."""
        r = min(self.r, (min(width, height) - 1) // 2)
        cx, cy = width // 2, height // 2
        return cx - r, cy - r, cx + r + 1, cy + r + 1

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        region = self.box(*frames.size)
        side = region[2] - region[0]
        disc = shape_mask((side, side), lambda draw, k: draw.ellipse([0, 0, side * k - 1, side * k - 1], fill=255))
        return frames.map(lambda im: with_mask(im.crop(region), disc))
