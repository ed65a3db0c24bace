"""indexcrop,x_<length>|y_<length>,i_<index>: cut the image into strips, keep one (OSS manual 2.4.3)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.errors import MissingArgument
from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation
from plugins.operations.crop import MAX


@operation("indexcrop")
@dataclass(frozen=True)
class IndexCrop(Operation):
    """Cut the image into strips `length` pixels wide (`axis` "x": side by side) or high
    ("y": one above the other) and keep strip `i`, counted from 0 at the left or top.

    The last strip is whatever is left. An index past the last strip returns
    the image unchanged (the manual); a length past the image's side makes
    one strip, the whole side. When both x and y are given, y wins (current
    OSS).
    """

    axis: str
    length: int
    i: int = 0

    @classmethod
    def parse(cls, params: Params) -> "IndexCrop":
        x, y = params.int("x", 1, MAX), params.int("y", 1, MAX)
        i = params.int("i", 0, MAX, default=0)
        if y is not None:
            return cls("y", y, i)
        if x is not None:
            return cls("x", x, i)
        raise MissingArgument("indexcrop: x or y is required")

    def canonical_params(self) -> list[str]:
        return [f"{self.axis}_{self.length}"] + ([f"i_{self.i}"] if self.i else [])

    def box(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The (left, top, right, bottom) strip of a `width` x `height` image, or None past the last."""
        side = width if self.axis == "x" else height
        start = self.i * self.length
        if start >= side:
            return None
        end = min(start + self.length, side)
        return (start, 0, end, height) if self.axis == "x" else (0, start, width, end)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        region = self.box(*frames.size)
        return frames if region is None else frames.map(lambda im: im.crop(region))
