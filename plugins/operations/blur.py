"""blur,r_<radius>,s_<sigma>: Gaussian blur (OSS image processing: blur)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import ImageFilter

from edge.errors import MissingArgument
from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation
from plugins.operations._pixels import filter_frame


@operation("blur")
@dataclass(frozen=True)
class Blur(Operation):
    """A Gaussian blur of standard deviation `s` pixels whose kernel reaches `r` pixels from
    its centre (as ImageMagick's `-blur RxS`, which OSS follows); both in [1, 50] and required.

    A kernel cut short by a small `r` blurs less than `s` asks: we use the
    standard deviation of the cut kernel, at most that of a box of radius r.
    """

    r: int
    s: int

    @classmethod
    def parse(cls, params: Params) -> "Blur":
        r, s = params.int("r", 1, 50), params.int("s", 1, 50)
        if r is None or s is None:
            raise MissingArgument(f"blur: {'r' if r is None else 's'} is required")
        return cls(r, s)

    def canonical_params(self) -> list[str]:
        return [f"r_{self.r}", f"s_{self.s}"]

    def sigma(self) -> float:
        """The standard deviation, in pixels, of the blur actually applied."""
        return min(self.s, math.sqrt(self.r * (self.r + 1) / 3))

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        gaussian = ImageFilter.GaussianBlur(self.sigma())
        return frames.map(lambda im: filter_frame(im, gaussian))
