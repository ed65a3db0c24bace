"""auto-orient,<0|1>: turn the image upright from its EXIF orientation before anything else.

OSS applies it by default (1); `auto-orient,0` keeps the stored pixel order.
It is a whole-image setting, applied at decode time wherever it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.params import bare_bool
from edge.pipeline import GpuSetting, GpuStep, Operation, operation


@operation("auto-orient", stage="decode")
@dataclass(frozen=True)
class AutoOrient(Operation):
    enabled: bool = bare_bool(True, noop=True)

    def on_gpu(self) -> GpuStep | str:
        return GpuSetting()

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.auto_orient = self.enabled  # the decoder (edge.render) orients while decoding
        return frames
