"""Save a rendition as an object: `POST /<key>?x-oss-process` with the body
`x-oss-process=<process>|sys/saveas,o_<b64 key>[,b_<b64 bucket>]` (OSS manual 2.10 / 1.9).

The caller must have signed the request with an access key that the target
bucket also holds (that is the write permission). The signature is in the
headers (it covers the body only through a Content-MD5, checked when sent), so
an unsigned request is refused before its body is read, and a body has
BODY_SECONDS to arrive. The rendition comes from the same pipeline, cache and
pool as a GET; the target bucket's source stores it (`Source.put`): a folder
writes a temporary name, flushes and renames it into place, never outside the
folder; an S3 bucket takes one PUT. Either way an object is whole or absent,
never partial.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from functools import partial
from urllib.parse import unquote

from aiohttp import web

from edge import base64url
from edge.config import BucketConfig
from edge.errors import AccessDenied, InvalidArgument, InvalidDigest, MissingArgument, RequestTimeout
from edge.origin import ORIGIN
from edge.pipeline import piped, split_saveas
from edge.request_keys import DIALECT
from edge.streams import chunks, read_capped

MAX_BODY = 64 * 1024
# The form is a few hundred bytes, at most MAX_BODY: even a 64 kbit/s uplink sends that in 8 s. A
# client slower than this (or one that promised a body and sends none) is holding a connection.
BODY_SECONDS = 10.0


async def handle(request: web.Request, bucket: BucketConfig, key: str, signer: str | None) -> web.Response:
    origin = request.app[ORIGIN]
    request[DIALECT] = "saveas"
    if signer is None:
        raise AccessDenied("saveas writes an object: the request must be signed")
    process, params = split_saveas(_process_of(await _body(request)))
    if params is None:
        raise MissingArgument("a POST with x-oss-process must end in |sys/saveas,o_<object>")
    target_key, target_name = _targets(params, bucket.name)
    target = origin.config.buckets.get(target_name)
    if target is None:
        raise InvalidArgument(f"saveas: the target bucket {target_name!r} does not exist here")
    if signer not in target.access_keys:
        raise AccessDenied(f"the access key {signer} may not write to bucket {target_name}")
    destination = origin.sources[target.name]

    source = origin.sources[bucket.name]
    pipeline = piped(process)
    obj = await source.stat(key)
    rendition, _ = await origin.renditions.get(await origin.renditions.want(bucket.name, source, obj, pipeline))
    await destination.put(target_key, rendition.body, rendition.content_type)
    answer = {"bucket": target_name, "fileSize": len(rendition.body), "object": target_key, "status": "OK"}
    return web.json_response(answer)


async def _body(request: web.Request) -> bytes:
    """The whole request body: at most MAX_BODY bytes (InvalidArgument), all there within
    BODY_SECONDS (RequestTimeout), matching its Content-MD5 when it has one (InvalidDigest)."""
    too_large = partial(InvalidArgument, f"the request body is over {MAX_BODY} bytes")
    if (request.content_length or 0) > MAX_BODY:
        raise too_large()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            body = await read_capped(chunks(request.content.read), MAX_BODY, too_large)
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {BODY_SECONDS:g} s") from None
    digest = request.headers.get("Content-MD5")
    if digest is not None and digest != base64.b64encode(hashlib.md5(body).digest()).decode():
        raise InvalidDigest("the Content-MD5 does not match the body")
    return body


def _process_of(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    name, equals, value = text.partition("=")
    if name != "x-oss-process" or not equals or not value:
        raise MissingArgument("the body must be x-oss-process=<process>|sys/saveas,o_<object>")
    return unquote(value) if "%" in value else value


def _targets(params: str, default_bucket: str) -> tuple[str, str]:
    values = dict(part.partition("_")[::2] for part in params.split(",") if part)
    unknown = set(values) - {"o", "b"}
    if unknown:
        raise InvalidArgument(f"saveas: unknown parameter {sorted(unknown)[0]}")
    if not values.get("o"):
        raise MissingArgument("saveas: o (the target object, url-safe base64) is required")
    target_key = _b64("o", values["o"])
    return target_key, _b64("b", values["b"]) if values.get("b") else default_bucket


def _b64(name: str, text: str) -> str:
    try:
        decoded = base64url.decode(text).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"saveas: {name}_{text} is not url-safe base64 of a name") from None
    if not decoded:
        raise InvalidArgument(f"saveas: {name} names nothing")
    return decoded

