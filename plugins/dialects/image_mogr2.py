"""Tencent Cloud's imageMogr2 query dialect (COS/CI): `?imageMogr2/thumbnail/200x/format/webp`.

Verbs are translated into a new-API process string and parsed by
`Pipeline.parse`. Supported: auto-orient, strip, thumbnail, crop (with
gravity), cut, rotate, format, quality, rquality, interlace, and blur, bright
and contrast when the server has those operations; `|` chains imageMogr2
segments. Each verb's translation is in docs/dialects.md.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

from edge.config import BucketConfig
from edge.dialects import Asked, query_dialect
from edge.errors import InvalidArgument, MissingArgument
from edge.geometry import GRAVITIES
from edge.pipeline import Pipeline

MAX_SEGMENTS = 10  # Tencent's limit on '|' pipes
# Tencent's names for the nine-grid, in edge.geometry.GRAVITIES order.
_GRAVITIES = dict(zip(("northwest", "north", "northeast", "west", "center", "east", "southwest", "south",
                       "southeast"), GRAVITIES))
_FORMATS = {"jpg": "jpg", "jpeg": "jpg", "yjpeg": "jpg", "png": "png", "webp": "webp", "bmp": "bmp",
            "gif": "gif", "heif": "heic", "heic": "heic", "avif": "avif", "tiff": "tiff"}
_FLAGS = ("auto-orient", "strip")  # verbs without a value

# thumbnail geometries -> resize parameters. Tencent enlarges unless `>` is given.
_THUMBNAILS: list[tuple[re.Pattern, Callable[..., str]]] = [
    (re.compile(r"!(\d+)p"), lambda p: f"p_{p},limit_0"),
    (re.compile(r"(\d+)x"), lambda w: f"w_{w},limit_0"),
    (re.compile(r"x(\d+)"), lambda h: f"h_{h},limit_0"),
    (re.compile(r"(\d+)x(\d+)"), lambda w, h: f"w_{w},h_{h},limit_0"),
    (re.compile(r"(\d+)x(\d+)>"), lambda w, h: f"w_{w},h_{h}"),
    (re.compile(r"!(\d+)x(\d+)r"), lambda w, h: f"m_mfit,w_{w},h_{h},limit_0"),
    (re.compile(r"(\d+)x(\d+)!"), lambda w, h: f"m_fixed,w_{w},h_{h},limit_0"),
]


@query_dialect(order=20)
def parse(key: str, query: Mapping[str, str], bucket: BucketConfig) -> Asked | None:
    for name, value in query.items():
        if name == "imageMogr2" or name.startswith("imageMogr2/"):
            # A '=' inside the instructions splits them into name and value: put it back.
            return Asked(key, pipeline(name + ("=" + value if value else "")), "imageMogr2")
    return None


def pipeline(text: str) -> Pipeline:
    """The Pipeline `imageMogr2/...` instructions ask for; raises as `translate` and `Pipeline.parse` do."""
    return Pipeline.parse(translate(text))


def translate(text: str) -> str:
    """The new-API process string for `imageMogr2/<verb>/<value>/...[|imageMogr2/...]`.

    Without the `auto-orient` verb the stored pixel order is kept, as on
    Tencent (`auto-orient,0`). Raises InvalidArgument or MissingArgument
    naming the verb; `format/tpg` is refused: TPG is Tencent's own format.
    """
    segments = text.split("|")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidArgument(f"imageMogr2: at most {MAX_SEGMENTS} segments can be chained with '|'")
    actions: list[str] = []
    orient = False
    for segment in segments:
        head, _, rest = segment.partition("/")
        if head != "imageMogr2":
            raise InvalidArgument(f"imageMogr2: only imageMogr2 segments can be chained with '|', not {head!r}")
        verbs = _verbs(rest)
        orient = orient or any(verb == "auto-orient" for verb, _ in verbs)
        gravity = next((_gravity(value) for verb, value in verbs if verb == "gravity"), "nw")
        actions += [action for verb, value in verbs if (action := _action(verb, value, gravity))]
    return "/".join(["image", *([] if orient else ["auto-orient,0"]), *actions])


def _verbs(rest: str) -> list[tuple[str, str]]:
    tokens = [token for token in rest.split("/") if token]
    if not tokens:
        raise MissingArgument("imageMogr2: no verb given (as imageMogr2/format/webp)")
    verbs = []
    while tokens:
        verb = tokens.pop(0)
        if verb in _FLAGS:
            verbs.append((verb, ""))
        elif not tokens:
            raise MissingArgument(f"imageMogr2/{verb}: missing its value")
        else:
            verbs.append((verb, tokens.pop(0)))
    return verbs


def _action(verb: str, value: str, gravity: str) -> str | None:
    """The new-API action for one verb (None for verbs that only qualify others, or change nothing)."""
    if verb in ("auto-orient", "strip", "gravity"):
        return None  # auto-orient is read by translate; our outputs never carry metadata to strip
    if verb == "thumbnail":
        return "resize," + _match(_THUMBNAILS, verb, value)
    if verb == "crop":
        match = re.fullmatch(r"(\d*)x(\d*)", value)
        if match is None or match.group(0) == "x":
            raise InvalidArgument(f"imageMogr2/crop/{value}: expected <width>x<height>, <width>x or x<height>")
        w, h = match.groups()
        return f"crop,w_{w or 0},h_{h or 0},g_{gravity}"
    if verb == "cut":
        match = re.fullmatch(r"(\d+)x(\d+)x(\d+)x(\d+)", value)
        if match is None:
            raise InvalidArgument(f"imageMogr2/cut/{value}: expected <width>x<height>x<dx>x<dy>")
        w, h, dx, dy = match.groups()
        return f"crop,x_{dx},y_{dy},w_{w},h_{h}"
    if verb == "format":
        return f"format,{_format(value)}"
    if verb in ("quality", "rquality"):
        if not value.isdigit():
            raise InvalidArgument(f"imageMogr2/{verb}/{value}: expected an integer 1-100 "
                                  "(forced quality, as 90!, is not supported)")
        return f"quality,{'Q' if verb == 'quality' else 'q'}_{value}"
    if verb in ("rotate", "interlace"):
        if not value.isdigit():
            raise InvalidArgument(f"imageMogr2/{verb}/{value}: expected a non-negative integer")
        return f"{verb},{value}"
    if verb == "blur":
        match = re.fullmatch(r"(\d+)x(\d+)", value)
        if match is None:
            raise InvalidArgument(f"imageMogr2/blur/{value}: expected <radius>x<sigma>")
        return f"blur,r_{match.group(1)},s_{match.group(2)}"
    if verb in ("bright", "contrast"):
        if re.fullmatch(r"-?\d{1,4}", value) is None:
            raise InvalidArgument(f"imageMogr2/{verb}/{value}: expected an integer")
        return f"{verb},{value}"
    raise InvalidArgument(f"imageMogr2/{verb} is not supported here")


def _match(table: list[tuple[re.Pattern, Callable[..., str]]], verb: str, value: str) -> str:
    for pattern, build in table:
        match = pattern.fullmatch(value)
        if match is not None:
            return build(*match.groups())
    raise InvalidArgument(f"imageMogr2/{verb}/{value} is not a supported geometry "
                          "(!<p>p, <w>x, x<h>, <w>x<h>, <w>x<h>>, !<w>x<h>r, <w>x<h>!)")


def _gravity(value: str) -> str:
    gravity = _GRAVITIES.get(value.lower())
    if gravity is None:
        raise InvalidArgument(f"imageMogr2/gravity/{value}: not one of {', '.join(_GRAVITIES)}")
    return gravity


def _format(value: str) -> str:
    name = value.lower()
    if name == "tpg":
        raise InvalidArgument("imageMogr2/format/tpg: TPG is Tencent's proprietary format and cannot be "
                              "produced here; ask for heif, avif or webp")
    if name not in _FORMATS:
        raise InvalidArgument(f"imageMogr2/format/{value}: not one of {', '.join(sorted(_FORMATS))}")
    return _FORMATS[name]
