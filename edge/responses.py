"""The answer for a rendition, whichever API asked for it: conditional check, cache or pool, CDN headers."""

from __future__ import annotations

import math

from aiohttp import web

from edge import ranges
from edge.config import BucketConfig
from edge.negotiation import negotiate
from edge.origin import ORIGIN
from edge.pipeline import Pipeline
from edge.request_keys import CANONICAL
from edge.sources import Source, SourceObject


async def rendition_response(request: web.Request, bucket: BucketConfig, source: Source, obj: SourceObject,
                             pipeline: Pipeline, cache_control: str) -> web.Response:
    """200 with the rendition (made once, cached), or 304 when the client holds it already.

    The ETag is known before any work, so a matching If-None-Match costs no job.
    """
    origin = request.app[ORIGIN]
    pipeline, varies = negotiate(pipeline, request.headers.get("Accept", ""), bucket.auto_format,
                                 animated_source=obj.content_type == "image/gif")
    request[CANONICAL] = pipeline.canonical()  # for the access log
    wanted = await origin.renditions.want(bucket.name, source, obj, pipeline)
    headers = {"ETag": wanted.etag, "Cache-Control": cache_control}
    if varies:
        headers["Vary"] = "Accept"
    if not_modified(request, headers["ETag"], obj.last_modified):
        response = web.Response(status=304, headers=headers)
    else:
        rendition, how = await origin.renditions.get(wanted)
        headers["X-Cache"] = how
        origin.metrics.bytes_out.inc(len(rendition.body))
        response = ranges.respond(request, rendition.body, rendition.content_type, headers, obj.last_modified)
    # Formatted as aiohttp's FileResponse does for originals (whole seconds, rounded up).
    response.last_modified = obj.last_modified
    return response


def not_modified(request: web.Request, etag: str, last_modified: float) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match (weak comparison) decides; else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.if_modified_since
    return since is not None and math.ceil(last_modified) <= since.timestamp()
