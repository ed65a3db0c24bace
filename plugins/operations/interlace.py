"""interlace,<0|1>: progressive JPEG output (OSS manual 2.5.1); meaningful for jpg only."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.params import bare_bool
from edge.pipeline import Operation, operation


@operation("interlace", stage="encode")
@dataclass(frozen=True)
class Interlace(Operation):
    progressive: bool = bare_bool(False, noop=False)

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.progressive = self.progressive
        return frames
