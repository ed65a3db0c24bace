"""average-hue: the image's average colour as JSON `{"RGB": "0xrrggbb"}` (OSS image processing)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageStat

from edge.frames import Frames, RenderContext
from edge.pipeline import Operation, operation


@operation("average-hue")
@dataclass(frozen=True)
class AverageHue(Operation):
    """Answer the mean colour of the image as the steps before it left it (of the first frame
    of an animation), as lower-case hex like OSS's `0xbbcd7f`.

    Pixels count by their opacity: a transparent pixel's colour does not
    count, and a wholly transparent image answers white (what jpg output
    would show). It must be the last operation.
    """

    def draft_size(self, width: int, height: int, ctx: RenderContext) -> tuple[int, int] | None:
        # A JPEG decoded at 1/8 keeps each 8x8 block's mean (its DC term): the same average, cheaply.
        return 1, 1

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        red, green, blue = _mean_colour(frames.images[0])
        ctx.document = {"RGB": f"0x{red:02x}{green:02x}{blue:02x}"}
        return frames


def _mean_colour(im: Image.Image) -> tuple[int, int, int]:
    if im.mode not in ("RGBA", "LA"):
        return tuple(round(v) for v in ImageStat.Stat(im.convert("RGB")).mean)
    opacity = ImageStat.Stat(im.getchannel("A")).mean[0]
    if opacity == 0:
        return 255, 255, 255
    premultiplied = ImageStat.Stat(im.convert("RGBA").convert("RGBa")).mean[:3]
    return tuple(min(255, round(v * 255 / opacity)) for v in premultiplied)
