"""Text for watermarks: the text layer, in the fonts of the OSS manuals (`edge.fonts`)."""

from __future__ import annotations

import functools
from typing import Callable

from PIL import Image, ImageDraw, ImageFont

from edge import fonts
from edge.errors import InternalError
from edge.fonts import FALLBACK_FONT

_LINE_SPACING = 1.2


@functools.lru_cache(maxsize=64)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """The font `name` (a key of FONTS) at `size` pixels; InternalError naming the Debian package
    to install when its file is missing (a server problem, not the caller's)."""
    path = fonts.path(name)
    if path is None:
        raise InternalError(fonts.missing_message(name))
    return ImageFont.truetype(path, size)


def text_layer(text: str, font_name: str, size: int, color: str, shadow: int,
               check: Callable[[int, int], None]) -> Image.Image:
    """`text` drawn in `color` (RRGGBB) on a transparent RGBA layer cut to its ink, with a black
    shadow of opacity `shadow` % below and to the right when `shadow` > 0. `check(width, height)`
    is called before anything is drawn and may raise (ImageTooLarge) to refuse the size."""
    ink = _ink(text, font_name, size, check)
    offset = max(1, round(size / 15)) if shadow else 0
    width, height = ink.width + offset, ink.height + offset
    rgb = tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))
    layer = Image.new("RGBA", (width, height), rgb + (0,))
    alpha = Image.new("L", (width, height), 0)
    alpha.paste(ink, (0, 0))
    layer.putalpha(alpha)
    if not shadow:
        return layer
    alpha = Image.new("L", (width, height), 0)
    alpha.paste(ink.point(lambda a: a * shadow // 100), (offset, offset))
    shade = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    shade.putalpha(alpha)
    return Image.alpha_composite(shade, layer)


def _ink(text: str, font_name: str, size: int, check: Callable[[int, int], None]) -> Image.Image:
    """The coverage (mode L) of `text`, lines stacked, cut to the ink (1x1 when there is none)."""
    face = font(font_name, size)
    ascent, descent = face.getmetrics()
    lines = text.split("\n")
    line_height = max(1, round(size * _LINE_SPACING))
    runs = [_runs(line, font_name) for line in lines]
    width = max(1, *(round(sum(font(name, size).getlength(part) for name, part in line)) for line in runs))
    margin = size // 4  # room for glyphs that reach past their advance or the ascent
    canvas_size = (width + 2 * margin, line_height * (len(lines) - 1) + ascent + descent + 2 * margin)
    check(*canvas_size)
    canvas = Image.new("L", canvas_size, 0)
    draw = ImageDraw.Draw(canvas)
    for index, line in enumerate(runs):
        x, baseline = margin, margin + ascent + index * line_height
        for name, part in line:
            draw.text((x, baseline), part, font=font(name, size), fill=255, anchor="ls")
            x += font(name, size).getlength(part)
    box = canvas.getbbox()
    return canvas.crop(box) if box else Image.new("L", (1, 1), 0)


def _runs(line: str, font_name: str) -> list[tuple[str, str]]:
    """`line` cut into (font name, characters) runs: each character in `font_name` if it has the
    glyph, else in the fallback font."""
    runs: list[tuple[str, str]] = []
    for char in line:
        name = font_name if _has_glyph(font_name, char) else FALLBACK_FONT
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + char)
        else:
            runs.append((name, char))
    return runs


@functools.lru_cache(maxsize=8192)
def _has_glyph(font_name: str, char: str) -> bool:
    """Whether the font draws `char` with a glyph of its own rather than its "missing" box."""
    return char.isspace() or _drawn(font_name, char) != _drawn(font_name, "\U0010FFFF")


@functools.lru_cache(maxsize=8192)
def _drawn(font_name: str, char: str) -> tuple[bytes, float]:
    face = font(font_name, 24)
    im = Image.new("L", (48, 48), 0)
    ImageDraw.Draw(im).text((8, 8), char, font=face, fill=255)
    return im.tobytes(), face.getlength(char)
