"""interlace,<0|1>: progressive JPEG output (OSS manual 2.5.1); meaningful for jpg only."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation


@operation("interlace", stage="encode")
@dataclass(frozen=True)
class Interlace(Operation):
    progressive: bool = False

    @classmethod
    def parse(cls, params: Params) -> "Interlace":
        return cls(params.value("0 or 1", 0, 1) == "1")

    def canonical_params(self) -> list[str]:
        return ["1" if self.progressive else "0"]

    def is_noop(self) -> bool:
        return not self.progressive

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.progressive = self.progressive
        return frames
