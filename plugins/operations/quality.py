"""quality: q (relative to the source JPEG's quality) or Q (absolute), 1-100 (OSS manual 2.5.2)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.frames import Frames, RenderContext
from edge.params import Params, either, integer
from edge.pipeline import GpuSetting, GpuStep, Operation, operation


@operation("quality", stage="encode")
@dataclass(frozen=True)
class Quality(Operation):
    """Encoder quality for jpg and webp (and heic/avif). Q wins over q when both are given;
    see edge.codecs.effective_quality for how the source's own quality bounds them."""

    q: int | None = integer(1, 100, None)
    Q: int | None = integer(1, 100, None)

    @classmethod
    def parse(cls, params: Params) -> "Quality":
        return cls(**either(cls.read(params), "q", "Q", "quality"))  # Q wins

    def on_gpu(self) -> GpuStep | str:
        return GpuSetting()

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.quality_absolute, ctx.quality_relative = self.Q, self.q
        return frames
