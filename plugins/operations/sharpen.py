"""sharpen,<value>: sharpen, 50 to 399 (OSS image processing: sharpen; 100 recommended)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import ImageFilter

from edge import cost
from edge.frames import Frames, RenderContext
from edge.params import bare_integer
from edge.pipeline import Operation, operation
from plugins.operations._pixels import filter_frame

RADIUS = 2.0  # pixels, as Pillow's own default unsharp mask: it restores what a resize softens


@operation("sharpen")
@dataclass(frozen=True)
class Sharpen(Operation):
    """An unsharp mask of radius 2 pixels whose strength is `value` percent: each pixel moves
    away from its blurred neighbourhood by value/100 of the difference (no threshold)."""

    value: int = bare_integer("the sharpness", 50, 399)

    def work(self, width: int, height: int, limits) -> tuple[tuple[int, int], float]:
        return cost.same_size(width, height, cost.FILTER_NS)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        mask = ImageFilter.UnsharpMask(radius=RADIUS, percent=self.value, threshold=0)
        return frames.map(lambda im: filter_frame(im, mask))
