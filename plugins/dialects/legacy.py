"""The legacy `@` API of the old IMG service (OSS manual 2.12): `<key>@100w_100h_1e_1c|90r.png`.

Instructions are translated into a new-API process string and parsed by
`Pipeline.parse`, so a legacy URL and its new-API spelling share one
canonical string. The grammar, what each parameter maps to, and the rules
where the manual is silent are in docs/dialects.md.
"""

from __future__ import annotations

import re
from functools import partial

from edge.config import BucketConfig
from edge.dialects import Reading, key_dialect
from edge.errors import InvalidArgument, MissingArgument, TooManyPipe
from edge.geometry import GRAVITIES, MAX_SIDE
from edge.params import bounded_int
from edge.pipeline import Pipeline

MAX_ACTIONS = 4  # "管道目前限制在4个": at most four actions chained with '|'

# A parameter is its value, then its key: 100w, 90Q, 100-50-200-150a, 100x200-1rc, -20b.
_PARAM = re.compile(r"([0-9xy-]*)([A-Za-z]+)")
_KEYS = frozenset(("w", "h", "e", "c", "l", "p", "bgc", "a", "rc", "ic", "r", "o", "ci",
                   "bl", "b", "d", "sh", "q", "Q", "pr"))
_MODES = {0: "lfit", 1: "mfit", 2: "fixed", 4: "pad"}


def translate(text: str) -> str:
    """The new-API process string (`image/...`) for legacy instructions (what follows `@`).

    Raises TooManyPipe for more than four '|'-chained actions, InvalidArgument
    or MissingArgument naming the legacy parameter that is wrong.
    """
    segments = text.split("|")
    if len(segments) > MAX_ACTIONS:
        raise TooManyPipe(f"legacy: {len(segments)} actions are chained with '|'; at most {MAX_ACTIONS} are allowed")
    actions: list[str] = []
    output = "jpg"  # the manual: without a format the result is saved as jpg
    for segment in segments:
        params, dot, extension = segment.partition(".")
        if not params and not dot:
            raise InvalidArgument("legacy: an empty action between '|'")
        if dot:
            if not extension.isalnum() or not extension.isascii():
                raise InvalidArgument(f"legacy: {extension!r} after '.' is not a format (jpg, png, webp, src, ...)")
            output = extension.lower()
        actions += _actions(_read(params))
    if output != "src":  # `.src` keeps the source's format
        actions.append(f"format,{output}")
    return "/".join(["image", *actions])


def pipeline(text: str) -> Pipeline:
    """The Pipeline legacy instructions ask for; raises as `translate` and `Pipeline.parse` do."""
    return Pipeline.parse(translate(text))


@key_dialect(order=20)
def read_key(key: str, bucket: BucketConfig) -> list[Reading]:
    """`<key>@<instructions>`, split at the last '@' (keys such as `logo@2x.png` keep theirs)."""
    if not bucket.legacy_api:
        return []
    at = key.rfind("@")
    if at <= 0 or at == len(key) - 1 or key[at + 1] == "!":  # `@!` is the style separator
        return []
    return [Reading(key[:at], "legacy", partial(pipeline, key[at + 1:]))]


def _read(params: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for token in params.split("_") if params else ():
        match = _PARAM.fullmatch(token)
        if match is None:
            raise InvalidArgument(f"legacy: cannot read {token!r}: a parameter is a value then its key, as 100w")
        value, name = match.groups()
        if name not in _KEYS:
            raise InvalidArgument(f"legacy: unknown parameter {name} (in {token})")
        if name in values:
            raise InvalidArgument(f"legacy: parameter {name} is given twice")
        values[name] = value
    return values


def _actions(values: dict[str, str]) -> list[str]:
    """One segment's actions in a fixed order: crops, resize, rotate, shapes, effects, settings.

    Crops come first because their coordinates are the source's (docs/dialects.md).
    """
    actions = _crops(values) + _resize(values)
    degrees = _int(values, "r", 0, 360)
    if degrees is not None:
        actions.append(f"rotate,{degrees}")
    actions += _shapes(values) + _effects(values) + _settings(values)
    return actions


def _crops(values: dict[str, str]) -> list[str]:
    actions = []
    if "a" in values:
        x, y, w, h = _numbers(values, "a", r"(\d+)-(\d+)-(\d+)-(\d+)", "x-y-width-height, as 100-50-200-150a")
        actions.append(f"crop,x_{x},y_{y},w_{w},h_{h}")
    if "rc" in values:
        w, h, region = _numbers(values, "rc", r"(\d*)x(\d*)-([1-9])", "widthxheight-region (1-9), as 100x200-1rc")
        actions.append(f"crop,w_{w or 0},h_{h or 0},g_{GRAVITIES[int(region) - 1]}")
    if "ic" in values:
        length, axis, index = _numbers(values, "ic", r"(\d+)([xy])-(\d+)", "lengthx-index or lengthy-index")
        actions.append(f"indexcrop,{axis}_{length},i_{index}")
    return actions


def _resize(values: dict[str, str]) -> list[str]:
    w, h = _int(values, "w", 1, MAX_SIDE), _int(values, "h", 1, MAX_SIDE)
    percent = _int(values, "p", 1, 1000)
    if w is None and h is None and percent is None:
        orphans = [name for name in ("e", "c", "l", "bgc") if name in values]
        if orphans:
            raise MissingArgument(f"legacy: {', '.join(orphans)} given without a width (w), height (h) "
                                  "or percentage (p)")
        return []
    priority = _int(values, "e", 0, 4)
    if priority not in (None, *_MODES):
        raise InvalidArgument(f"legacy {values['e']}e: e must be 0, 1, 2 or 4")
    mode = _MODES[priority or 0]
    if _int(values, "c", 0, 1) == 1 and mode == "mfit":
        mode = "fill"  # 1e_1c: scale by the short side, then cut the middle (auto crop)
    if percent is not None and (w is not None or h is not None):
        # "100w_100h_200p is the same as 200w_200h"
        w, h = (None if side is None else max(1, round(side * percent / 100)) for side in (w, h))
        percent = None
    # A percentage scales both sides whatever the mode, so the mode is left out with it.
    tokens = [f"p_{percent}"] if percent is not None else [f"m_{mode}"]
    tokens += [f"{name}_{value}" for name, value in (("w", w), ("h", h)) if value is not None]
    # The old service enlarges unless told `1l`; the new API's default is the opposite.
    tokens.append(f"limit_{_int(values, 'l', 0, 1) or 0}")
    if "bgc" in values:
        tokens.append(f"color_{_colour(values)}")
    return ["resize," + ",".join(tokens)]


def _shapes(values: dict[str, str]) -> list[str]:
    if "ci" not in values:
        return []
    radius, kind = _numbers(values, "ci", r"(\d+)-([0-2])", "radius-type (0 or 1: circle, 2: rounded corners)")
    action = "rounded-corners" if kind == "2" else "circle"
    return [f"{action},r_{radius}"]


def _effects(values: dict[str, str]) -> list[str]:
    actions = []
    if "bl" in values:
        radius, sigma = _numbers(values, "bl", r"(\d+)-(\d+)", "radius-sigma, as 3-2bl")
        actions.append(f"blur,r_{radius},s_{sigma}")
    for name, action in (("b", "bright"), ("d", "contrast"), ("sh", "sharpen")):
        if name in values:
            (amount,) = _numbers(values, name, r"(-?\d{1,4})", "an integer")
            actions.append(f"{action},{amount}")
    return actions


def _settings(values: dict[str, str]) -> list[str]:
    actions = []
    orient = _int(values, "o", 0, 2)
    if orient is not None:
        # 1 (resize, then turn upright) and 2 (turn, then resize) both turn the image upright;
        # we always do it first, as the new API does, so the asked size is the size made.
        actions.append(f"auto-orient,{0 if orient == 0 else 1}")
    quality = [f"{name}_{value}" for name, value in (("q", _int(values, "q", 1, 100)),
                                                     ("Q", _int(values, "Q", 1, 100))) if value is not None]
    if quality:
        actions.append("quality," + ",".join(quality))
    progressive = _int(values, "pr", 0, 1)
    if progressive is not None:
        actions.append(f"interlace,{progressive}")
    return actions


def _int(values: dict[str, str], name: str, low: int, high: int) -> int | None:
    text = values.get(name)
    return None if text is None else bounded_int(f"legacy {text}{name}: {name}", text, low, high)


def _numbers(values: dict[str, str], name: str, pattern: str, shape: str) -> tuple[str, ...]:
    match = re.fullmatch(pattern, values[name])
    if match is None:
        raise InvalidArgument(f"legacy {values[name]}{name}: {name} takes {shape}")
    return match.groups()


def _colour(values: dict[str, str]) -> str:
    channels = _numbers(values, "bgc", r"(\d{1,3})-(\d{1,3})-(\d{1,3})", "red-green-blue, as 255-0-0bgc")
    if any(int(channel) > 255 for channel in channels):
        raise InvalidArgument(f"legacy {values['bgc']}bgc: each channel must be in [0, 255]")
    return "".join(f"{int(channel):02X}" for channel in channels)
