"""GET/HEAD of an object: find the bucket and key, ask the dialects, answer the original or a rendition."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from edge import auth, dialects, saveas
from edge.config import BucketConfig, Config
from edge.errors import InvalidArgument, MethodNotAllowed, NoSuchBucket
from edge.origin import ORIGIN
from edge.request_keys import DIALECT
from edge.responses import rendition_response
from edge.sources import object_exists


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
    saving = request.method == "POST" and "x-oss-process" in request.query
    if request.method not in ("GET", "HEAD") and not saving:
        raise MethodNotAllowed(f"{request.method} is not supported on objects (GET, HEAD, and POST for saveas are)",
                               headers={"Allow": "GET, HEAD, POST" if "x-oss-process" in request.query else "GET, HEAD"})
    origin = request.app[ORIGIN]
    bucket, key = address(request, origin.config)
    # The signature covers the key as sent, before a dialect reads styles or `@` out of it.
    signer = auth.authenticate(request, bucket, key)
    if saving:
        return await saveas.handle(request, bucket, key, signer)
    source = origin.sources[bucket.name]
    asked = await dialects.parse(key, request.query, bucket, partial(object_exists, source))
    request[DIALECT] = asked.dialect
    auth.authorize(bucket, asked, signer)
    cache_control = bucket.signed_cache_control if signer or bucket.private else bucket.cache_control
    if asked.pipeline is None:
        response = await source.serve_original(request, asked.key)
        response.headers["Cache-Control"] = cache_control
        return response

    obj = await source.stat(asked.key)
    return await rendition_response(request, bucket, source, obj, asked.pipeline, cache_control)
