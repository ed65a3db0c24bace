"""resize: m (lfit mfit fill pad fixed), w, h, l, s, p, limit, color (OSS manual 2.3 / 1.3)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from edge import cost
from edge.errors import InvalidArgument, MissingArgument
from edge.frames import Frames, RenderContext
from edge.geometry import MAX_SIDE
from edge.params import Params, choice, colour, integer
from edge.pipeline import GpuScale, GpuStep, Operation, operation

MODES = ("lfit", "mfit", "fill", "pad", "fixed")


@operation("resize")
@dataclass(frozen=True)
class Resize(Operation):
    """Scale the image. Sizes are in pixels; `p` is a percentage and excludes w/h/l/s.

    With only one of w/h in lfit/mfit the other side follows the aspect
    ratio; in fill/pad/fixed the missing side equals the given one (OSS).
    When w or h is given, l and s are ignored. With `limit` 1 (default) a
    resize that would enlarge the image leaves it at its own size.
    """

    m: str = choice(MODES, "lfit")
    w: int | None = integer(1, MAX_SIDE, None)
    h: int | None = integer(1, MAX_SIDE, None)
    l: int | None = integer(1, MAX_SIDE, None)
    s: int | None = integer(1, MAX_SIDE, None)
    p: int | None = integer(1, 1000, None)
    limit: int = integer(0, 1, 1)
    color: str = colour("FFFFFF")

    @classmethod
    def parse(cls, params: Params) -> "Resize":
        given = cls.read(params)
        sides = [given[name] for name in ("w", "h", "l", "s")]
        if given["p"] is not None and any(v is not None for v in sides):
            raise InvalidArgument("resize: p cannot be combined with w, h, l or s")
        if given["p"] is None and all(v is None for v in sides):
            raise MissingArgument("resize: one of w, h, l, s or p is required")
        if given["w"] is not None or given["h"] is not None:
            given["l"] = given["s"] = None
        if given["p"] is not None:
            given["m"] = "lfit"  # a percentage scales both sides alike: the mode changes nothing
        if given["m"] != "pad":
            given["color"] = "FFFFFF"
        return cls(**given)

    def on_gpu(self) -> GpuStep | str:
        return "resize m_pad runs on the CPU" if self.m == "pad" else GpuScale(self.plan)  # pad draws a canvas

    def plan(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """(scaled size, final size) for a `width` x `height` image, or None when nothing changes."""
        if self.p is not None:
            scale = self.p / 100
            scaled = (_round(width * scale), _round(height * scale))
            return None if scale > 1 and self.limit else (scaled, scaled)
        box_w, box_h = self._box(width, height)
        if self.m in ("fill", "pad", "fixed"):
            box_w, box_h = box_w or box_h, box_h or box_w
        if self.m == "fixed":
            if self.limit and (box_w > width or box_h > height):
                return None
            return (box_w, box_h), (box_w, box_h)
        ratios = [side / whole for side, whole in ((box_w, width), (box_h, height)) if side]
        scale = max(ratios) if self.m in ("mfit", "fill") else min(ratios)
        if self.limit and scale > 1:
            return None
        scaled = (_round(width * scale), _round(height * scale))
        return scaled, ((box_w, box_h) if self.m in ("fill", "pad") else scaled)

    def _box(self, width: int, height: int) -> tuple[int | None, int | None]:
        if self.w is not None or self.h is not None:
            return self.w, self.h
        # l and s name the long and the short side of the source.
        long_is_width = width >= height
        return (self.l, self.s) if long_is_width else (self.s, self.l)

    def draft_size(self, width: int, height: int, ctx: RenderContext) -> tuple[int, int] | None:
        plan = self.plan(width, height)
        return None if plan is None else plan[0]

    def work(self, width: int, height: int, limits) -> tuple[tuple[int, int], float] | None:
        plan = self.plan(width, height)
        if plan is None:
            return (width, height), 0
        (scaled_w, scaled_h), final = plan
        if cost.over_target(scaled_w, scaled_h, limits) or cost.over_target(*final, limits):
            return None
        resampled = max(width * height, scaled_w * scaled_h) * cost.RESAMPLE_NS
        return final, resampled + final[0] * final[1] * cost.PASS_NS

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        width, height = ctx.pop_undrafted_size() or frames.size
        plan = self.plan(width, height)
        if plan is None:
            return frames
        scaled, final = plan
        ctx.check_target(*scaled, what="resize")
        ctx.check_target(*final, what="resize")
        return frames.map(lambda im: self._one(im, scaled, final))

    def _one(self, im: Image.Image, scaled: tuple[int, int], final: tuple[int, int]) -> Image.Image:
        if im.size != scaled:
            im = im.resize(scaled, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if self.m == "fill" and scaled != final:
            left, top = (scaled[0] - final[0]) // 2, (scaled[1] - final[1]) // 2
            im = im.crop((left, top, left + final[0], top + final[1]))
        elif self.m == "pad" and scaled != final:
            canvas = Image.new(im.mode, final, _fill(im.mode, self.color))
            canvas.paste(im, ((final[0] - scaled[0]) // 2, (final[1] - scaled[1]) // 2))
            im = canvas
        return im


def _round(value: float) -> int:
    return max(1, int(value + 0.5))


def _fill(mode: str, color: str):
    rgb = tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))
    if mode == "L":
        return round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])
    if mode == "LA":
        return (round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]), 255)
    return rgb + (255,) if mode == "RGBA" else rgb
