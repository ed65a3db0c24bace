"""rounded-corners,r_<radius>: round the image's corners (OSS manual 2.4.4)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.geometry import MAX_RADIUS
from edge.params import integer
from edge.pipeline import Operation, operation
from plugins.operations._pixels import shape_mask, with_mask


@operation("rounded-corners")
@dataclass(frozen=True)
class RoundedCorners(Operation):
    """Cut the corners as quarter circles of radius `r`; the image keeps its size.

    A radius past half the shorter side becomes half of it (the manual: the
    corners are then those of the largest inscribed circle). Outside the
    corners the result is transparent, which the encoder turns white for
    formats without alpha (jpg).
    """

    r: int = integer(1, MAX_RADIUS)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        width, height = frames.size
        r = min(self.r, min(width, height) // 2)

        def shape(draw, k):
            draw.rounded_rectangle([0, 0, width * k - 1, height * k - 1], radius=r * k, fill=255)

        mask = shape_mask(frames.size, shape)
        return frames.map(lambda im: with_mask(im, mask))
