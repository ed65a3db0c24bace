"""quality: q (relative to the source JPEG's quality) or Q (absolute), 1-100 (OSS manual 2.5.2)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.errors import MissingArgument
from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation


@operation("quality", stage="encode")
@dataclass(frozen=True)
class Quality(Operation):
    """Encoder quality for jpg and webp (and heic/avif). Q wins over q when both are given;
    see edge.codecs.effective_quality for how the source's own quality bounds them."""

    q: int | None = None
    Q: int | None = None

    @classmethod
    def parse(cls, params: Params) -> "Quality":
        q, absolute = params.int("q", 1, 100), params.int("Q", 1, 100)
        if q is None and absolute is None:
            raise MissingArgument("quality: q or Q is required")
        return cls(None, absolute) if absolute is not None else cls(q, None)

    def canonical_params(self) -> list[str]:
        return [f"Q_{self.Q}"] if self.Q is not None else [f"q_{self.q}"]

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.quality_absolute, ctx.quality_relative = self.Q, self.q
        return frames
