"""rotate,<degrees>: clockwise by 0-360 degrees; the canvas grows to hold the result."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from edge import cost
from edge.errors import ImageTooLarge
from edge.frames import Frames, RenderContext
from edge.params import bare_integer
from edge.pipeline import GpuStep, GpuTurn, Operation, operation

_EXACT = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
_ORIENTATION = {90: 6, 180: 3, 270: 8}  # the same turns as EXIF orientations


@operation("rotate")
@dataclass(frozen=True)
class Rotate(Operation):
    """Rotate clockwise. Right angles are exact transposes; other angles fill the new corners
    with transparency where the image has alpha and white otherwise."""

    degrees: int = bare_integer("the angle (0-360)", 0, 360, modulo=360, noop=0)

    def on_gpu(self) -> GpuStep | str:
        return GpuTurn(_ORIENTATION[self.degrees]) if self.degrees in _ORIENTATION else \
            "rotation by other than a right angle"

    def work(self, width: int, height: int, limits) -> tuple[tuple[int, int], float] | None:
        if width > limits.rotate_side or height > limits.rotate_side:
            return None
        if self.degrees in _EXACT:
            size = (height, width) if self.degrees != 180 else (width, height)
            return size, width * height * cost.PASS_NS
        turn = math.radians(self.degrees)
        cos, sin = abs(math.cos(turn)), abs(math.sin(turn))
        size = (math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos))
        return size, size[0] * size[1] * cost.ROTATE_NS

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        width, height = frames.size
        side = ctx.limits.rotate_side
        if width > side or height > side:
            raise ImageTooLarge(f"rotate: the image is {width}x{height}; rotation takes sides of at most {side}")
        if self.degrees in _EXACT:
            return frames.map(lambda im: im.transpose(_EXACT[self.degrees]))
        return frames.map(self._turn)

    def _turn(self, im: Image.Image) -> Image.Image:
        fill = {"RGBA": (0, 0, 0, 0), "LA": (0, 0), "L": 255}.get(im.mode, (255, 255, 255))
        return im.rotate(-self.degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
