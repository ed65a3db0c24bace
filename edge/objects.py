"""GET/HEAD of an object: find the bucket and key, ask the dialects, answer the original or a rendition."""

from __future__ import annotations

import math

from aiohttp import web

from edge import dialects
from edge.config import BucketConfig, Config
from edge.errors import InvalidArgument, MethodNotAllowed, NoSuchBucket
from edge.origin import ORIGIN
from edge.renditions import rendition_etag


def address(request: web.Request, config: Config) -> tuple[BucketConfig, str]:
    """(bucket, key) from the Host (a bucket's bound domain) or else the first path segment."""
    path = request.match_info["tail"]
    bucket = config.bucket_for_host(request.host or "")
    if bucket is not None:
        return bucket, path
    name, _, key = path.partition("/")
    bucket = config.buckets.get(name)
    if bucket is None:
        raise NoSuchBucket(f"the bucket {name!r} does not exist" if name else
                           "no bucket in the URL: use /<bucket>/<key> or a domain bound to a bucket")
    if not key:
        raise InvalidArgument("no object key in the URL: use /<bucket>/<key>")
    return bucket, key


async def handle(request: web.Request) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"{request.method} is not supported on objects (GET and HEAD are)")
    origin = request.app[ORIGIN]
    bucket, key = address(request, origin.config)
    asked = dialects.parse(key, request.query, bucket)
    request["dialect"] = asked.dialect
    source = origin.sources[bucket.name]
    if asked.pipeline is None:
        response = await source.serve_original(request, asked.key)
        response.headers.setdefault("Cache-Control", bucket.cache_control)
        return response

    obj = await source.stat(asked.key)
    headers = {"ETag": rendition_etag(bucket.name, obj, asked.pipeline), "Cache-Control": bucket.cache_control}
    if _not_modified(request, headers["ETag"], obj.last_modified):
        response = web.Response(status=304, headers=headers)
    else:
        rendition, how = await origin.renditions.get(bucket.name, source, obj, asked.pipeline)
        headers["X-Cache"] = how
        origin.metrics.bytes_out.inc(len(rendition.body))
        response = web.Response(body=rendition.body, content_type=rendition.content_type, headers=headers)
    # Formatted as aiohttp's FileResponse does for originals (whole seconds, rounded up).
    response.last_modified = obj.last_modified
    return response


def _not_modified(request: web.Request, etag: str, last_modified: float) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match (weak comparison) decides; else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.if_modified_since
    return since is not None and math.ceil(last_modified) <= since.timestamp()
