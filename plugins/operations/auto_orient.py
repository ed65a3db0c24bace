"""auto-orient,<0|1>: turn the image upright from its EXIF orientation before anything else.

OSS applies it by default (1); `auto-orient,0` keeps the stored pixel order.
It is a whole-image setting, applied at decode time wherever it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation


@operation("auto-orient", stage="decode")
@dataclass(frozen=True)
class AutoOrient(Operation):
    enabled: bool = True

    @classmethod
    def parse(cls, params: Params) -> "AutoOrient":
        return cls(params.value("0 or 1", 0, 1) == "1")

    def canonical_params(self) -> list[str]:
        return ["1" if self.enabled else "0"]

    def is_noop(self) -> bool:
        return self.enabled

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        return frames  # read by the decoder (edge.render), which orients while decoding
