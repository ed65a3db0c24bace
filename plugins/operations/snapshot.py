"""video/snapshot: t (ms), w, h (0: automatic), m_fast, f (jpg|png) — OSS manual chapter 3."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from edge.errors import InvalidArgument
from edge.frames import Frames, RenderContext
from edge.geometry import MAX_SIDE
from edge.params import choice, flag, integer
from edge.pipeline import Operation, operation

MAX_T = 24 * 3600 * 1000  # a day of video, in ms


@operation("snapshot", medium="video")
@dataclass(frozen=True)
class Snapshot(Operation):
    """The frame on screen at `t` ms (with `fast`: the last keyframe at or before it), scaled to
    w x h: one of them 0 keeps the aspect ratio, both 0 keep the video's size. Never enlarged
    past the video's own size (the manual's range is [0, video width/height])."""

    t: int = integer(0, MAX_T, 0, always=True)
    w: int = integer(0, MAX_SIDE, 0)
    h: int = integer(0, MAX_SIDE, 0)
    fast: bool = flag("fast", key="m")
    f: str = choice(("jpg", "png"), "jpg", aliases={"jpeg": "jpg"}, always=True)

    def before_decode(self, ctx: RenderContext) -> None:
        ctx.frame_ms, ctx.keyframe = self.t, self.fast

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        ctx.output_format = self.f
        width, height = frames.size
        if self.w > width or self.h > height:
            raise InvalidArgument(f"snapshot: w_{self.w},h_{self.h} is larger than the video ({width}x{height})")
        if not self.w and not self.h:
            return frames
        size = (self.w or max(1, round(width * self.h / height)), self.h or max(1, round(height * self.w / width)))
        return frames.map(lambda im: im.resize(size, Image.Resampling.LANCZOS))
