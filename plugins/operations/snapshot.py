"""video/snapshot: t (ms), w, h (0: automatic), m_fast, f (jpg|png) — OSS manual chapter 3."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from edge.errors import InvalidArgument
from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, Params, operation

MAX_T = 24 * 3600 * 1000  # a day of video, in ms


@operation("snapshot", kind="video")
@dataclass(frozen=True)
class Snapshot(Operation):
    """The frame on screen at `t` ms (with `fast`: the last keyframe at or before it), scaled to
    w x h: one of them 0 keeps the aspect ratio, both 0 keep the video's size. Never enlarged
    past the video's own size (the manual's range is [0, video width/height])."""

    t: int = 0
    w: int = 0
    h: int = 0
    fast: bool = False
    f: str = "jpg"

    @classmethod
    def parse(cls, params: Params) -> "Snapshot":
        return cls(
            t=params.int("t", 0, MAX_T, default=0),
            w=params.int("w", 0, 16384, default=0),
            h=params.int("h", 0, 16384, default=0),
            fast=params.choice("m", ("fast",)) == "fast",
            f=params.choice("f", ("jpg", "png"), default="jpg", aliases={"jpeg": "jpg"}),
        )

    def canonical_params(self) -> list[str]:
        out = [f"t_{self.t}"]
        out += [f"{k}_{getattr(self, k)}" for k in ("w", "h") if getattr(self, k)]
        if self.fast:
            out.append("m_fast")
        return out + [f"f_{self.f}"]

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.output_format = self.f
        width, height = frames.size
        if self.w > width or self.h > height:
            raise InvalidArgument(f"snapshot: w_{self.w},h_{self.h} is larger than the video ({width}x{height})")
        if not self.w and not self.h:
            return frames
        size = (self.w or max(1, round(width * self.h / height)), self.h or max(1, round(height * self.w / width)))
        return frames.map(lambda im: im.resize(size, Image.Resampling.LANCZOS))
