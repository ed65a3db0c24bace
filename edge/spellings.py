"""Every spelling of one rendition in the syntaxes a bucket accepts (for the console).

From a canonical process string this proposes the new API's, each style's
whose canonical string is the same (by parameter and through each separator),
the legacy `@` API's and imageMogr2's; then each proposal is read back by the
real dialects (edge.dialects.parse), so a spelling is marked `same` only when
it truly asks for the same canonical string, and the nearest one a syntax
has is shown with what it asks for otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from edge import dialects
from edge.config import BucketConfig
from edge.errors import OssError
from edge.geometry import GRAVITIES
from edge.pipeline import Pipeline

# Tencent's nine-grid names, in edge.geometry.GRAVITIES order.
_TENCENT_GRAVITIES = dict(zip(GRAVITIES, ("northwest", "north", "northeast", "west", "center", "east",
                                          "southwest", "south", "southeast")))
_SAFE = "/@!-_.~,>"  # left as they are in a shown URL: they need no escaping there
_LEGACY_MODES = {"lfit": [], "mfit": ["1e"], "fill": ["1e", "1c"], "fixed": ["2e"], "pad": ["4e"]}


@dataclass(frozen=True)
class Spelling:
    """One way to ask for a rendition: the syntax, the path and query after the bucket, and what it
    asks for when read back (`canonical`, or `error`); `same` when that is the rendition asked."""

    syntax: str
    path: str
    canonical: str | None
    error: str | None = None
    same: bool = False


def _steps(canonical: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """(action, named parameters, bare values) of each step of an `image/...` canonical string."""
    steps = []
    for step in canonical.split("/")[1:]:
        name, *tokens = step.split(",")
        named = dict(token.split("_", 1) for token in tokens if "_" in token)
        steps.append((name, named, [token for token in tokens if "_" not in token]))
    return steps


def legacy(canonical: str) -> str | None:
    """The legacy `@` instructions nearest to `canonical`, or None when it has a step they lack."""
    params, extension = [], "src"  # without a format the legacy API saves a JPEG: `.src` keeps the source's
    for name, named, bare in _steps(canonical):
        if name == "resize":
            params += [f"{named[side]}{side}" for side in ("w", "h", "p") if side in named]
            params += _LEGACY_MODES.get(named.get("m", "lfit"), [])
            params += [] if named.get("limit") == "0" else ["1l"]
            if "color" in named:
                params.append("-".join(str(int(named["color"][i:i + 2], 16)) for i in (0, 2, 4)) + "bgc")
        elif name == "crop" and "g" not in named:
            params.append("-".join(named.get(k, "0") for k in ("x", "y", "w", "h")) + "a")
        elif name == "crop":
            params.append(f"{named.get('w', '')}x{named.get('h', '')}-{GRAVITIES.index(named['g']) + 1}rc")
        elif name in ("circle", "rounded-corners"):
            params.append(f"{named['r']}-{1 if name == 'circle' else 2}ci")
        elif name == "blur":
            params.append(f"{named['r']}-{named['s']}bl")
        elif name in ("rotate", "bright", "contrast", "sharpen", "interlace", "auto-orient") and bare:
            suffix = {"rotate": "r", "bright": "b", "contrast": "d", "sharpen": "sh", "interlace": "pr",
                      "auto-orient": "o"}[name]
            params.append(f"{bare[0]}{suffix}")
        elif name == "quality":
            params += [f"{named[k]}{k}" for k in ("q", "Q") if k in named]
        elif name == "format":
            extension = bare[0]
        else:
            return None
    return "_".join(params) + "." + extension


def image_mogr2(canonical: str) -> str | None:
    """The imageMogr2 instructions nearest to `canonical`, or None when it has a step they lack."""
    steps = _steps(canonical)
    verbs = [] if ("auto-orient", {}, ["0"]) in steps else ["auto-orient"]
    for name, named, bare in steps:
        if name == "auto-orient":
            continue
        if name == "resize":
            w, h, mode = named.get("w", ""), named.get("h", ""), named.get("m", "lfit")
            if "p" in named:
                geometry = f"!{named['p']}p"
            elif mode == "mfit":
                geometry = f"!{w}x{h}r"
            elif mode == "fixed":
                geometry = f"{w}x{h}!"
            else:
                # `>` (do not enlarge) only exists with both sides: one side always enlarges.
                geometry = f"{w}x{h}" + (">" if named.get("limit") != "0" and w and h else "")
            verbs += ["thumbnail", geometry]
        elif name == "crop" and "g" not in named:
            verbs += ["cut", "x".join(named.get(k, "0") for k in ("w", "h", "x", "y"))]
        elif name == "crop":
            verbs += ["gravity", _TENCENT_GRAVITIES[named["g"]], "crop", f"{named.get('w', '')}x{named.get('h', '')}"]
        elif name in ("rotate", "interlace", "bright", "contrast"):
            verbs += [name, bare[0]]
        elif name == "format":
            verbs += ["format", "heif" if bare[0] == "heic" else bare[0]]
        elif name == "quality":
            verbs += ["quality", named["Q"]] if "Q" in named else ["rquality", named["q"]]
        elif name == "blur":
            verbs += ["blur", f"{named['r']}x{named['s']}"]
        else:
            return None
    return "imageMogr2/" + "/".join(verbs)


async def spell(bucket: BucketConfig, key: str, canonical: str, exists) -> list[Spelling]:
    """Every spelling of `canonical` for `key` in `bucket`, each read back by the dialects, one row
    at least per syntax the bucket accepts (a row without a path says why there is none).
    `exists(key)` answers whether the source has that key (as the dialects' key rule asks)."""
    rows: list[tuple[str, str, dict[str, str]] | Spelling] = [("new API", key, {"x-oss-process": canonical})]
    styles = [name for name, made in style_canonicals(bucket).items() if made == canonical]
    for name in styles:
        rows.append(("style", key, {"x-oss-process": f"style/{name}"}))
        rows += [(f"style, separator {separator}", f"{key}{separator}{name}", {}) for separator in bucket.style_separators]
    if not styles:
        rows.append(Spelling("style", "", None, "no style of this bucket makes this rendition; a style with this "
                                                "process string would"))
    if bucket.legacy_api:
        instructions = legacy(canonical)
        rows.append(("legacy @", f"{key}@{instructions}", {}) if instructions is not None else
                    Spelling("legacy @", "", None, "the legacy API has no spelling for a step of this process"))
    instructions = image_mogr2(canonical)
    rows.append(("imageMogr2", key, {instructions: ""}) if instructions is not None else
                Spelling("imageMogr2", "", None, "imageMogr2 has no spelling for a step of this process"))
    return [row if isinstance(row, Spelling) else await _read_back(bucket, key, canonical, exists, *row) for row in rows]


async def _read_back(bucket: BucketConfig, key: str, canonical: str, exists, syntax: str, path: str,
                     query: dict[str, str]) -> Spelling:
    """The spelling `path?query`, with what the dialects read it as."""
    shown = quote(path, safe=_SAFE) + ("?" + "&".join(quote(k, safe=_SAFE) + (f"={quote(v, safe=_SAFE)}" if v else "")
                                                   for k, v in query.items()) if query else "")
    try:
        asked = await dialects.parse(path, query, bucket, exists)
    except OssError as exc:
        return Spelling(syntax, shown, None, exc.message)
    read = asked.pipeline.canonical() if asked.pipeline is not None else None
    return Spelling(syntax, shown, read, None, read == canonical and asked.key == key)


def _canonical_of_style(bucket: BucketConfig, name: str) -> str | None:
    try:
        asked = dialects.from_query("", {"x-oss-process": f"style/{name}"}, bucket)
    except OssError:
        return None
    return asked.pipeline.canonical() if asked is not None and asked.pipeline is not None else None


def style_canonicals(bucket: BucketConfig) -> dict[str, str]:
    """Each configured style's canonical string (start-up refused the ones that do not parse)."""
    return {name: canonical for name in bucket.styles if (canonical := _canonical_of_style(bucket, name))}


def canonical(process: str) -> str:
    """The canonical string of an `x-oss-process` value; raises the OssError naming what is wrong."""
    return Pipeline.parse(process).canonical()
