"""bright,<value>: brightness, -100 to 100 (OSS image processing: bright)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation
from plugins.operations._pixels import map_levels, signed_value


@operation("bright")
@dataclass(frozen=True)
class Bright(Operation):
    """Add `value` percent of full scale to every colour channel (ImageMagick's brightness
    of `-brightness-contrast`): 0 keeps the image, 100 makes it white, -100 black."""

    value: int

    @classmethod
    def parse(cls, params: Params) -> "Bright":
        return cls(signed_value(params, "the brightness", -100, 100))

    def canonical_params(self) -> list[str]:
        return [str(self.value)]

    def is_noop(self) -> bool:
        return self.value == 0

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        shift = 255 * self.value / 100
        table = [min(255, max(0, round(level + shift))) for level in range(256)]
        return frames.map(lambda im: map_levels(im, table))
