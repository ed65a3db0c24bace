"""blur,r_<radius>,s_<sigma>: Gaussian blur (OSS image processing: blur)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import ImageFilter

from edge import cost
from edge.frames import Frames, RenderContext
from edge.params import integer
from edge.pipeline import Operation, operation
from plugins.operations._pixels import filter_frame


@operation("blur")
@dataclass(frozen=True)
class Blur(Operation):
    """A Gaussian blur of standard deviation `s` pixels whose kernel reaches `r` pixels from
    its centre (as ImageMagick's `-blur RxS`, which OSS follows); both in [1, 50] and required.

    A kernel cut short by a small `r` blurs less than `s` asks: we use the
    standard deviation of the cut kernel, at most that of a box of radius r.
    """

    r: int = integer(1, 50)
    s: int = integer(1, 50)

    def sigma(self) -> float:
        """The standard deviation, in pixels, of the blur actually applied."""
        return min(self.s, math.sqrt(self.r * (self.r + 1) / 3))

    def work(self, width: int, height: int, limits) -> tuple[tuple[int, int], float]:
        return cost.same_size(width, height, cost.FILTER_NS)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        gaussian = ImageFilter.GaussianBlur(self.sigma())
        return frames.map(lambda im: filter_frame(im, gaussian))
