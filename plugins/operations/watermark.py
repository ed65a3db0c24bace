"""watermark: an image, a text, or both, placed by gravity (OSS manual 2.6 / 1.5).

    watermark,image_<b64 key[?x-oss-process=image/resize,P_30/crop,.../rotate,...]>,t_90,g_se,x_10,y_10
    watermark,text_<b64>,type_<b64 font>,color_FFFFFF,size_40,shadow_50,rotate_30,fill_1
    watermark,image_<b64>,text_<b64>,order_1,align_2,interval_10

Base64 values are URL-safe, with or without their `=` padding. The image is
an object of the same bucket (the server fetches it through the bucket's
source and passes it to the job; its validator is part of the rendition's
cache key). Its preprocessing may resize (also `P_`: a percentage of the
main image, so a logo keeps its proportion on every rendition), crop and
rotate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image

from edge import base64url, cost
from edge.errors import BadRequest, ImageTooLarge, InvalidArgument, MissingArgument, OssError, WatermarkError
from edge.fonts import DEFAULT_FONT, FONTS
from edge.frames import Frames, RenderContext
from edge.geometry import GRAVITIES, MAX_MARGIN, column, place, row
from edge.params import Params, bounded_int, choice, decoded, integer, is_hex_colour, signed
from edge.pipeline import OPERATIONS, Operation, operation
from edge.render import decode_still
from edge.streams import read_limited
from plugins.operations._text import text_layer
from plugins.operations.resize import Resize

MAX_TEXT_BYTES = 64  # "at most 64 characters (about 20 Chinese characters)": UTF-8 bytes
PREPROCESSING = ("resize", "crop", "rotate")  # the manual: resize, crop, rotate; not circle
_BASE64 = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_PROCESS = "?x-oss-process="
# A filled image is tiled at most about this many times along each side.
_MAX_TILES_PER_SIDE = 64


@dataclass(frozen=True)
class Overlay:
    """The watermark image: an object of the same bucket, and the steps that preprocess it."""

    key: str
    steps: tuple = ()

    def spell(self) -> str:
        steps = "/".join(step.canonical() for step in self.steps)
        return base64url.encode(self.key + (f"{_PROCESS}image/{steps}" if steps else ""))


@dataclass(frozen=True)
class Percent:
    """`resize,P_<p>` in a watermark's preprocessing: fit within p % of the main image's sides."""

    p: int

    def canonical(self) -> str:
        return f"resize,P_{self.p}"


@operation("watermark")
@dataclass(frozen=True)
class Watermark(Operation):
    """Draw a watermark block (the image, the text, or both side by side) at gravity `g`.

    `x` and `y` are margins from the edges the gravity touches (ignored along a
    centred axis); `voffset` moves a vertically centred block down (negative:
    up). `t` is the opacity in %. With `fill` the block is repeated over the
    whole image, `x` and `y` apart, every other row shifted by half a step.
    """

    image: Overlay | None = decoded(lambda text: _overlay(_decode("image", text)), lambda overlay: overlay.spell(),
                                    None)
    text: str | None = decoded(lambda text: _text(_decode("text", text)), base64url.encode, None)
    font: str = decoded(lambda text: _font(_decode("type", text)), base64url.encode, DEFAULT_FONT, key="type")
    color: str = decoded(lambda text: _color(text), None, "000000")
    size: int = integer(1, 1000, 40)
    shadow: int = integer(0, 100, 0)
    rotate: int = integer(0, 360, 0, modulo=360)
    fill: int = integer(0, 1, 0)
    t: int = integer(0, 100, 100)
    g: str = choice(GRAVITIES, "se")
    x: int = integer(0, MAX_MARGIN, 10)
    y: int = integer(0, MAX_MARGIN, 10)
    voffset: int = signed(-1000, 1000, 0)
    order: int = integer(0, 1, 0)
    align: int = integer(0, 2, 0)
    interval: int = integer(0, 1000, 0)

    @classmethod
    def parse(cls, params: Params) -> "Watermark":
        if "image" not in params.named and "text" not in params.named:
            raise MissingArgument("watermark: image or text is required")
        return cls(**cls.read(params))

    def canonical_params(self) -> list[str]:
        out = self.spell("image")
        if self.text is not None:
            out += self.spell("text", "font", "color", "size", "shadow", "rotate")
        if self.image is not None and self.text is not None:
            out += self.spell("order", "align", "interval")
        out += self.spell("fill", "t", "g")
        # Margins the gravity ignores are dropped, so equal results share one spelling (fill uses both).
        if self.fill or column(self.g) != 1:
            out += self.spell("x")
        if self.fill or row(self.g) != 1:
            out += self.spell("y")
        if row(self.g) == 1:
            out += self.spell("voffset")
        return out

    def inputs(self) -> tuple[str, ...]:
        return () if self.image is None else (self.image.key,)

    def work(self, width: int, height: int, limits) -> tuple[tuple[int, int], float]:
        # A block may cover the whole image; a filled one about twice over (rows are staggered).
        return cost.same_size(width, height, cost.COMPOSITE_NS * (2 if self.fill else 1))

    def apply(self, frames: Frames, ctx: RenderContext) -> Frames:
        width, height = frames.size
        block = self._block(width, height, ctx)
        places = self._places(width, height, block.size)
        return frames.map(lambda im: _stamp(im, block, places))

    def _block(self, width: int, height: int, ctx: RenderContext) -> Image.Image:
        """The RGBA block to draw: the image and/or the text, at opacity t."""
        parts = []
        if self.image is not None:
            parts.append(self._image(width, height, ctx))
        if self.text is not None:
            layer = text_layer(self.text, self.font, self.size, self.color, self.shadow,
                               lambda w, h: ctx.check_target(w, h, what="watermark text"))
            if self.rotate:
                layer = layer.rotate(-self.rotate, Image.Resampling.BICUBIC, expand=True)
            parts.append(layer)
        if self.order == 1:
            parts.reverse()
        block = parts[0] if len(parts) == 1 else _side_by_side(*parts, self.align, self.interval)
        ctx.check_target(*block.size, what="watermark")
        if self.t < 100:
            block.putalpha(block.getchannel("A").point(lambda a: a * self.t // 100))
        return block

    def _image(self, width: int, height: int, ctx: RenderContext) -> Image.Image:
        key = self.image.key
        held = ctx.inputs.get(key)
        if held is None:
            raise WatermarkError(f"watermark: the image object {key!r} was not fetched")
        try:
            raw = held if isinstance(held, bytes) else read_limited(held, ctx.limits.source_bytes)
            im = decode_still(raw, ctx.limits)
        except (BadRequest, ImageTooLarge) as exc:
            raise WatermarkError(f"watermark: the image object {key!r} cannot be used: {exc.message}") from None
        frames = Frames([im.convert("RGBA")])
        step_ctx = RenderContext(limits=ctx.limits, source_format="")
        for step in self.image.steps:
            if isinstance(step, Percent):
                step = Resize(w=max(1, width * step.p // 100), h=max(1, height * step.p // 100), limit=0)
            frames = step.apply(frames, step_ctx)
        return frames.images[0].convert("RGBA")

    def _places(self, width: int, height: int, size: tuple[int, int]) -> list[tuple[int, int]]:
        """Top-left corners of the block: one at the gravity, or a grid from it over the image (fill)."""
        w, h = size
        left, top = place(self.g, (width, height), size, (self.x, self.y), (0, self.voffset))
        if not self.fill:
            return [(left, top)]
        step_x = max(w + self.x, width // _MAX_TILES_PER_SIDE, 1)
        step_y = max(h + self.y, height // _MAX_TILES_PER_SIDE, 1)
        places = []
        for y in range(_first(top, step_y, h), height, step_y):
            odd_row = (y - top) // step_y % 2
            start = left + step_x // 2 * odd_row
            places += [(x, y) for x in range(_first(start, step_x, w), width, step_x)]
        return places


def _first(start: int, step: int, extent: int) -> int:
    """The smallest `start + k * step` (k any integer) whose span of `extent` still reaches past 0."""
    return start - (start + extent - 1) // step * step


def _decode(name: str, text: str) -> str:
    """A URL-safe base64 parameter (padding optional) as UTF-8 text; WatermarkError naming `name`."""
    if not _BASE64.fullmatch(text):
        raise WatermarkError(f"watermark: {name} is not URL-safe base64: {text!r}")
    try:
        return base64url.decode(text).decode()
    except (ValueError, UnicodeDecodeError):
        raise WatermarkError(f"watermark: {name} is not URL-safe base64 of UTF-8 text: {text!r}") from None


def _text(text: str) -> str:
    """The decoded text, checked: not empty, at most MAX_TEXT_BYTES of UTF-8."""
    if not text:
        raise WatermarkError("watermark: text is empty")
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise WatermarkError(f"watermark: text is {len(text.encode())} bytes of UTF-8, over the limit of "
                             f"{MAX_TEXT_BYTES} (about 20 Chinese characters)")
    return text


def _font(font: str) -> str:
    if font not in FONTS:
        raise WatermarkError(f"watermark: type {font!r} is not a known font (one of {', '.join(FONTS)})")
    return font


def _color(text: str) -> str:
    """RRGGBB, as the Chinese manual writes it, or the base64 of #RRGGBB the English one asks for."""
    if is_hex_colour(text):
        return text.upper()
    try:
        decoded = _decode("color", text)
    except WatermarkError:
        decoded = ""
    if decoded.startswith("#") and is_hex_colour(decoded[1:]):
        return decoded[1:].upper()
    raise InvalidArgument(f"watermark: color_{text} is not a colour RRGGBB")


def _overlay(decoded: str) -> Overlay:
    """The object key and preprocessing steps of `key[?x-oss-process=image/...]`."""
    key, _, process = decoded.partition(_PROCESS)
    if not key:
        raise WatermarkError("watermark: image names no object")
    if not process:
        return Overlay(key, ())
    kind, _, rest = process.partition("/")
    if kind != "image":
        raise WatermarkError(f"watermark: the image preprocessing must be image/..., got {process!r}")
    steps = []
    for part in filter(None, rest.split("/")):
        action, *tokens = part.split(",")
        if action not in PREPROCESSING:
            raise WatermarkError(f"watermark: image preprocessing supports {', '.join(PREPROCESSING)}, "
                                 f"not {action!r}")
        try:
            steps += _preprocessing_step(action, tokens)
        except OssError as exc:
            raise WatermarkError(f"watermark: image preprocessing: {exc.message}") from None
    return Overlay(key, tuple(steps))


def _preprocessing_step(action: str, tokens: list[str]) -> list:
    percent = [token for token in tokens if token.startswith("P_")]
    if action == "resize" and percent:
        if len(tokens) > 1:
            raise InvalidArgument("resize: P cannot be combined with other resize parameters")
        return [Percent(bounded_int("resize: P", percent[0][2:], 1, 100))]
    params = Params(action, tokens)
    step = OPERATIONS[action].parse(params)
    params.finish()
    return [] if step.is_noop() else [step]


def _side_by_side(first: Image.Image, second: Image.Image, align: int, interval: int) -> Image.Image:
    """`first`, a gap of `interval`, then `second`, aligned at the top (0), centre (1) or bottom (2)."""
    height = max(first.height, second.height)
    block = Image.new("RGBA", (first.width + interval + second.width, height), (0, 0, 0, 0))
    for part, left in ((first, 0), (second, first.width + interval)):
        top = (0, (height - part.height) // 2, height - part.height)[align]
        block.alpha_composite(part, (left, top))
    return block


def _stamp(im: Image.Image, block: Image.Image, places: list[tuple[int, int]]) -> Image.Image:
    """A copy of `im` with `block` composited at each place (clipped at the edges); L becomes RGB."""
    out = im.convert("RGBA" if im.mode in ("RGBA", "LA") else "RGB")
    for left, top in places:
        box = (max(0, -left), max(0, -top), min(block.width, out.width - left), min(block.height, out.height - top))
        if box[0] >= box[2] or box[1] >= box[3]:
            continue
        piece, at = block.crop(box), (max(0, left), max(0, top))
        if out.mode == "RGBA":
            out.alpha_composite(piece, at)
        else:
            out.paste(piece, at, piece)
    return out
