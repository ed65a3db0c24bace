"""format,<jpg|jpeg|png|webp|bmp|gif|tiff|heic|heif|avif|auto>: the output format (OSS manual 2.5.3).

`auto` is ours: the server picks avif or webp from the request's Accept header
(edge.negotiation) before the rendition is looked up, so no worker sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.codecs import FORMAT_ALIASES, FORMATS
from edge.frames import Frames, RenderContext
from edge.errors import InvalidArgument
from edge.params import bare_text
from edge.pipeline import GpuSetting, GpuStep, Operation, operation


@operation("format", stage="encode")
@dataclass(frozen=True)
class Format(Operation):
    """Write the result as `name`. As the manual says, `gif` only applies to GIF sources;
    other sources keep their own format."""

    target: str = bare_text("the format", lambda text: _format_name(text.lower()), (*FORMATS, "auto"))

    def is_negotiated(self) -> bool:
        return self.target == "auto"

    def on_gpu(self) -> GpuStep | str:
        return GpuSetting() if self.target == "jpg" else f"format {self.target} is encoded on the CPU"

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        if self.target != "auto" and (self.target != "gif" or ctx.source_format == "GIF"):
            ctx.output_format = self.target
        return frames


def _format_name(text: str) -> str:
    name = FORMAT_ALIASES.get(text, text)
    if name not in FORMATS and name != "auto":
        raise InvalidArgument(f"format: {text} is not one of {', '.join(FORMATS)}, jpeg, heif, auto")
    return name
