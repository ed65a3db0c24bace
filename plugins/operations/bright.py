"""bright,<value>: brightness, -100 to 100 (OSS image processing: bright)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.params import bare_integer
from edge.pipeline import Operation, operation
from plugins.operations._pixels import map_levels


@operation("bright")
@dataclass(frozen=True)
class Bright(Operation):
    """Add `value` percent of full scale to every colour channel (ImageMagick's brightness
    of `-brightness-contrast`): 0 keeps the image, 100 makes it white, -100 black."""

    value: int = bare_integer("the brightness", -100, 100, signed=True, noop=0)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        shift = 255 * self.value / 100
        table = [min(255, max(0, round(level + shift))) for level in range(256)]
        return frames.map(lambda im: map_levels(im, table))
