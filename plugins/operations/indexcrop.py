"""indexcrop,x_<length>|y_<length>,i_<index>: cut the image into strips, keep one (OSS manual 2.4.3)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.geometry import MAX_OFFSET
from edge.params import Params, either, integer
from edge.pipeline import Operation, operation


@operation("indexcrop")
@dataclass(frozen=True)
class IndexCrop(Operation):
    """Cut the image into strips `x` pixels wide (side by side) or `y` pixels high (one above
    the other) and keep strip `i`, counted from 0 at the left or top.

    The last strip is whatever is left. An index past the last strip returns
    the image unchanged (the manual); a length past the image's side makes
    one strip, the whole side. When both x and y are given, y wins (current
    OSS).
    """

    x: int | None = integer(1, MAX_OFFSET, None)
    y: int | None = integer(1, MAX_OFFSET, None)
    i: int = integer(0, MAX_OFFSET, 0)

    @classmethod
    def parse(cls, params: Params) -> "IndexCrop":
        return cls(**either(cls.read(params), "x", "y", "indexcrop"))  # y wins

    def box(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The (left, top, right, bottom) strip of a `width` x `height` image, or None past the last."""
        length = self.y or self.x
        side = height if self.y else width
        start = self.i * length
        if start >= side:
            return None
        end = min(start + length, side)
        return (0, start, width, end) if self.y else (start, 0, end, height)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        region = self.box(*frames.size)
        return frames if region is None else frames.map(lambda im: im.crop(region))
