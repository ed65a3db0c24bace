"""crop: w, h, x, y, g (OSS manual 2.4.2)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.errors import BadRequest
from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation

GRAVITIES = ("nw", "north", "ne", "west", "center", "east", "sw", "south", "se")
MAX = 30_000  # the largest source side; the real bound is the image, checked when applied


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

    w: int = 0
    h: int = 0
    x: int = 0
    y: int = 0
    g: str = "nw"

    @classmethod
    def parse(cls, params: Params) -> "Crop":
        return cls(
            w=params.int("w", 0, MAX, default=0),
            h=params.int("h", 0, MAX, default=0),
            x=params.int("x", 0, MAX, default=0),
            y=params.int("y", 0, MAX, default=0),
            g=params.choice("g", GRAVITIES, default="nw"),
        )

    def canonical_params(self) -> list[str]:
        defaults = {"w": 0, "h": 0, "x": 0, "y": 0, "g": "nw"}
        return [f"{k}_{getattr(self, k)}" for k in ("w", "h", "x", "y", "g") if getattr(self, k) != defaults[k]]

    def is_noop(self) -> bool:
        return (self.w, self.h, self.x, self.y) == (0, 0, 0, 0)

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The (left, top, right, bottom) region of a `width` x `height` image."""
        w = min(self.w or width, width)
        h = min(self.h or height, height)
        left = _start(self.g_column(), self.x, w, width)
        top = _start(self.g_row(), self.y, h, height)
        if left >= width or top >= height:
            raise BadRequest(f"crop: the start ({self.x}, {self.y}) is outside the {width}x{height} image "
                             "(Advance cut's position is out of image)")
        return left, top, min(left + w, width), min(top + h, height)

    def g_column(self) -> int:
        return 0 if self.g in ("nw", "west", "sw") else 2 if self.g in ("ne", "east", "se") else 1

    def g_row(self) -> int:
        return 0 if self.g in ("nw", "north", "ne") else 2 if self.g in ("sw", "south", "se") else 1

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        region = self.box(*frames.size)
        return frames.map(lambda im: im.crop(region))


def _start(anchor: int, offset: int, extent: int, whole: int) -> int:
    if anchor == 0:
        return offset
    if anchor == 2:
        return max(0, whole - extent - offset)
    return max(0, (whole - extent) // 2 + offset)
