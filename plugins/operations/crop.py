"""crop: w, h, x, y, g (OSS manual 2.4.2)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.errors import BadRequest
from edge.frames import Frames, RenderContext
from edge.geometry import GRAVITIES, MAX_OFFSET, place
from edge.params import choice, integer
from edge.pipeline import GpuCut, GpuStep, Operation, operation


@operation("crop")
@dataclass(frozen=True)
class Crop(Operation):
    """Cut a w x h region (0 or absent: to the image's edge) anchored at gravity g.

    x/y are distances from the anchored edges: from the left/top for the west
    and north gravities, from the right/bottom for east and south, and an
    offset right/down from the centred position for the middle row/column.
    A start outside the image is BadRequest; a region past the edge is cut
    at the edge (OSS).
    """

    w: int = integer(0, MAX_OFFSET, 0, noop=0)
    h: int = integer(0, MAX_OFFSET, 0, noop=0)
    x: int = integer(0, MAX_OFFSET, 0, noop=0)
    y: int = integer(0, MAX_OFFSET, 0, noop=0)
    g: str = choice(GRAVITIES, "nw")

    def on_gpu(self) -> GpuStep | str:
        return GpuCut(self.box)

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The (left, top, right, bottom) region of a `width` x `height` image."""
        w = min(self.w or width, width)
        h = min(self.h or height, height)
        # An offset from the centre moves the region; one from an edge keeps it inside.
        left, top = (max(0, start) for start in place(self.g, (width, height), (w, h), (self.x, self.y),
                                                      (self.x, self.y)))
        if left >= width or top >= height:
            raise BadRequest(f"crop: the start ({self.x}, {self.y}) is outside the {width}x{height} image "
                             "(Advance cut's position is out of image)")
        return left, top, min(left + w, width), min(top + h, height)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        region = self.box(*frames.size)
        return frames.map(lambda im: im.crop(region))

