"""The transcode API of seed 000: `GET /j2h/<stem>-w<W>-h<H>.heic` (JPEG -> HEIC) and
`GET /g2w/<stem>-w<W>-h<H>.webp` (GIF -> animated WebP), `?BucketName=<b>&AppCode=<c>`.

Each request becomes an ordinary pipeline (resize keeping the aspect ratio, then
format), so it shares the cache and the worker pool with `x-oss-process`, and
the same rendition asked either way is made once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from aiohttp import web

from edge.errors import InvalidAppCode, InvalidArgument, NoSuchBucket, NoSuchKey, TranscodeUnsupported
from edge.origin import ORIGIN
from edge.pipeline import Pipeline
from edge.request_keys import DIALECT
from edge.responses import rendition_response

_NAME = re.compile(r"^(?P<stem>.+)-w(?P<w>\d{1,5})-h(?P<h>\d{1,5})\.(?P<ext>heic|webp)$")
GIF_MAX = (1920, 1080)


@dataclass(frozen=True)
class Kind:
    extension: str          # of the asked name
    sources: tuple[str, ...]  # suffixes of the original, tried in order
    source_format: str      # what the original must be (Pillow's name)
    output: str             # format,<output>
    quality: str = ""       # the quality step, if any


# The HEIC keeps the JPEG's own visual quality: q_100 is 100 % of the source's quality (not our
# default of 85, which would lower a q90-q95 original's), mapped to x265's scale by edge.codecs.
J2H = Kind("heic", (".jpg", ".jpeg"), "JPEG", "heic", "/quality,q_100")
G2W = Kind("webp", (".gif",), "GIF", "webp")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/j2h/{name}", partial(handle, kind=J2H))
    app.router.add_get("/g2w/{name}", partial(handle, kind=G2W))


def app_code(request: web.Request) -> str:
    """The AppCode from `AppCode`/`appcode` in the query (any case), or `Authorization: APPCODE <c>`."""
    for name, value in request.query.items():
        if name.lower() == "appcode":
            return value
    scheme, _, code = request.headers.get("Authorization", "").partition(" ")
    return code.strip() if scheme.upper() == "APPCODE" else ""


async def handle(request: web.Request, kind: Kind) -> web.StreamResponse:
    request[DIALECT] = f"transcode-{kind.output}"
    origin = request.app[ORIGIN]
    match = _NAME.match(request.match_info["name"])
    if match is None or match["ext"] != kind.extension:
        raise InvalidArgument(f"the name must be <stem>-w<width>-h<height>.{kind.extension}")
    bucket_name = request.query.get("BucketName", "")
    if not bucket_name:
        raise InvalidArgument("BucketName is required")
    bucket = origin.config.buckets.get(bucket_name)
    if bucket is None:
        raise NoSuchBucket(f"the bucket {bucket_name!r} does not exist")
    code = app_code(request)
    if not code or code not in bucket.appcodes:
        raise InvalidAppCode("the AppCode is missing or not valid for this bucket")
    source = origin.sources[bucket.name]
    obj = await _find_original(source, match["stem"], kind)
    facts = await origin.renditions.probe(bucket.name, source, obj)
    if facts["format"] != kind.source_format:
        raise InvalidArgument(f"the original {obj.key} is {facts['format']}, not {kind.source_format}")
    width, height = int(match["w"]), int(match["h"])
    if kind is G2W and (facts["width"] > GIF_MAX[0] or facts["height"] > GIF_MAX[1]):
        raise TranscodeUnsupported(
            f"the GIF is {facts['width']}x{facts['height']}; at most {GIF_MAX[0]}x{GIF_MAX[1]} is supported")
    # The picture is turned upright first (auto-orient), so a phone's sideways-stored JPEG is
    # measured as it is seen.
    upright = (facts["height"], facts["width"]) if facts.get("orientation", 1) >= 5 else (facts["width"], facts["height"])
    if width > upright[0] or height > upright[1]:
        raise TranscodeUnsupported(
            f"the size asked ({width}x{height}) is larger than the original "
            f"({upright[0]}x{upright[1]}); enlarging is not supported")
    return await rendition_response(request, bucket, source, obj, _pipeline(width, height, kind),
                                    bucket.cache_control)


async def _find_original(source, stem: str, kind: Kind):
    for suffix in kind.sources:
        try:
            return await source.stat(stem + suffix)
        except NoSuchKey:
            continue
    raise NoSuchKey(f"the original {stem}{' or '.join(kind.sources)} does not exist")


def _pipeline(width: int, height: int, kind: Kind) -> Pipeline:
    size = ",".join(part for part in (f"w_{width}" if width else "", f"h_{height}" if height else "") if part)
    resize = f"/resize,{size}" if size else ""
    return Pipeline.parse(f"image{resize}/format,{kind.output}{kind.quality}")
