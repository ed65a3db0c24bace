"""contrast,<value>: contrast, -100 to 100 (OSS image processing: contrast)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.params import bare_integer
from edge.pipeline import Operation, operation
from plugins.operations._pixels import map_levels


@operation("contrast")
@dataclass(frozen=True)
class Contrast(Operation):
    """Stretch (value > 0) or flatten (value < 0) the levels around mid-grey, as the contrast
    of ImageMagick's `-brightness-contrast`: the slope is tan(pi/4 * (1 + value/100)),
    so 0 keeps the image, -100 makes it flat grey and 100 a hard threshold at mid-grey."""

    value: int = bare_integer("the contrast", -100, 100, signed=True, noop=0)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        slope = math.tan(math.pi / 4 * (1 + self.value / 100))
        table = [min(255, max(0, round(127.5 + slope * (level - 127.5)))) for level in range(256)]
        return frames.map(lambda im: map_levels(im, table))
