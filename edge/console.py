"""The console in the browser, `/_edge/console` (`[console] enabled`; docs/console.md).

One self-contained page (edge/console.html: no asset from another host) over a
small JSON API under `/_edge/console/api/`:

- `operations`: the operation registry as the page builds its controls from it
  (each parameter's edge.params.Param.describe()), so a new operation appears by itself;
- `buckets`, and `sign-in` (an access key of a bucket, checked against its
  `access_keys`; it answers a cookie for that bucket, an HMAC under the key's
  secret, so any instance with the same config accepts it);
- `objects` (keys of a folder source), `render` (one rendition made through the
  rendition path: canonical string, ETag, size, time, cache level, and every
  spelling the bucket accepts, edge.spellings) and `styles` (each configured style).

URLs it hands to the page are signed (edge.signing) where the bucket asks for signatures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from functools import partial
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web

from edge import dialects, signing, spellings
from edge.config import BucketConfig
from edge.errors import AccessDenied, InvalidAccessKeyId, InvalidArgument, MissingArgument, NoSuchBucket
from edge.origin import ORIGIN
from edge.pipeline import OPERATIONS
from edge.sources import object_exists

PREFIX = "/_edge/console"
SIGN_IN_SECONDS = 12 * 3600
URL_SECONDS = 3600  # signed URLs handed to the page
MAX_KEYS = 500  # keys listed from a folder source
_PAGE = Path(__file__).with_name("console.html").read_text()  # once: edge.app imports this module only when on
_LISTED = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".mp4",
           ".mov", ".webm")


def add_routes(app: web.Application) -> None:
    """The console's page and API (only called when `[console] enabled`)."""
    app.router.add_get(PREFIX, _page)
    app.router.add_get(PREFIX + "/api/operations", _operations)
    app.router.add_get(PREFIX + "/api/buckets", _buckets)
    app.router.add_post(PREFIX + "/api/sign-in", _sign_in)
    app.router.add_get(PREFIX + "/api/objects", _objects)
    app.router.add_get(PREFIX + "/api/render", _render)
    app.router.add_get(PREFIX + "/api/styles", _styles)


async def _page(request: web.Request) -> web.Response:
    # No other host is ever asked for anything: scripts, styles and images are this page's or this server's.
    policy = "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    return web.Response(text=_PAGE, content_type="text/html",
                        headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})


async def _operations(request: web.Request) -> web.Response:
    return web.json_response([
        {"name": name, "kind": op.medium, "parameters": [param.describe() for param in op.parameters()]}
        for name, op in sorted(OPERATIONS.items())])


async def _buckets(request: web.Request) -> web.Response:
    config = request.app[ORIGIN].config
    return web.json_response([{
        "name": bucket.name, "signed_in": _signer(request, bucket) is not None or not config.console.sign_in,
        "can_sign_in": bool(bucket.access_keys), "styles": dict(bucket.styles),
        "separators": list(bucket.style_separators), "legacy_api": bucket.legacy_api,
    } for bucket in config.buckets.values()])


async def _sign_in(request: web.Request) -> web.Response:
    """Check an access key of the bucket; answer a cookie that signs the visitor in to it."""
    form = await request.post()
    bucket = _named_bucket(request, str(form.get("bucket", "")))
    key_id, secret = str(form.get("key_id", "")), str(form.get("secret", ""))
    known = bucket.access_keys.get(key_id)
    if known is None:
        raise InvalidAccessKeyId(f"the access key id {key_id!r} does not exist for bucket {bucket.name}")
    if not hmac.compare_digest(known.encode(), secret.encode()):
        raise AccessDenied(f"the secret does not match access key {key_id}")
    expires = int(time.time()) + SIGN_IN_SECONDS
    response = web.json_response({"bucket": bucket.name, "key_id": key_id, "expires": expires})
    response.set_cookie(_cookie(bucket), f"{key_id}:{expires}:{_mac(bucket, key_id, known, expires)}",
                        max_age=SIGN_IN_SECONDS, path=PREFIX, httponly=True, samesite="Strict")
    return response


async def _objects(request: web.Request) -> web.Response:
    """Keys of the bucket's folder (at most MAX_KEYS, media files only); [] for other sources,
    whose keys the page lets the visitor type."""
    bucket = _usable_bucket(request)
    if not bucket.source.startswith("file://"):
        return web.json_response({"keys": [], "listed": False})
    keys = await asyncio.to_thread(_folder_keys, bucket.source[len("file://"):])
    return web.json_response({"keys": keys, "listed": True})


def _folder_keys(root: str) -> list[str]:
    keys = []
    for folder, subfolders, files in os.walk(root):  # links are not followed: they may lead outside
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.lower().endswith(_LISTED) and not name.startswith(".") and not os.path.islink(path):
                keys.append(os.path.relpath(path, root).replace(os.sep, "/"))
                if len(keys) >= MAX_KEYS:
                    return keys
    return keys


async def _render(request: web.Request) -> web.Response:
    """One rendition made as a request for it would be, with what the page shows about it."""
    origin = request.app[ORIGIN]
    bucket = _usable_bucket(request)
    key, process = request.query.get("key", ""), request.query.get("process", "")
    if not key:
        raise MissingArgument("key: pick an object of the bucket")
    source = origin.sources[bucket.name]
    exists = partial(object_exists, source)
    original = await source.stat(key)
    answer = {"original": {"url": _url(request, bucket, key), "bytes": original.size,
                           "content_type": original.content_type, "etag": original.etag}}
    if process:
        asked = await dialects.parse(key, {"x-oss-process": process}, bucket, exists)
        if asked.pipeline is None:
            raise InvalidArgument("process: asks for nothing")
        canonical = asked.pipeline.canonical()
        wanted = await origin.renditions.want(bucket.name, source, original, asked.pipeline)
        started = time.monotonic()
        rendition, how = await origin.renditions.get(wanted)
        answer["rendition"] = {
            "canonical": canonical, "etag": wanted.etag, "bytes": len(rendition.body),
            "content_type": rendition.content_type, "seconds": round(time.monotonic() - started, 4), "cache": how,
            "url": _url(request, bucket, key, {"x-oss-process": canonical}),
            "spellings": [{"syntax": s.syntax, "path": s.path, "canonical": s.canonical, "error": s.error,
                           "same": s.same, "url": _url(request, bucket, *_split(s.path)) if s.same else None}
                          for s in await spellings.spell(bucket, key, canonical, exists)],
        }
    return web.json_response(answer)


async def _styles(request: web.Request) -> web.Response:
    """Each configured style of the bucket with its canonical string, and its URL for `key`."""
    bucket = _usable_bucket(request)
    key = request.query.get("key", "")
    if not key:
        raise MissingArgument("key: pick an object of the bucket")
    return web.json_response([
        {"name": name, "process": bucket.styles[name], "canonical": canonical,
         "url": _url(request, bucket, key, {"x-oss-process": f"style/{name}"})}
        for name, canonical in spellings.style_canonicals(bucket).items()])


def _named_bucket(request: web.Request, name: str) -> BucketConfig:
    bucket = request.app[ORIGIN].config.buckets.get(name)
    if bucket is None:
        raise NoSuchBucket(f"the bucket {name!r} does not exist" if name else "bucket: pick a bucket")
    return bucket


def _usable_bucket(request: web.Request) -> BucketConfig:
    """The `bucket` of the query, if the visitor may use it: signed in to it, or sign-in is off."""
    bucket = _named_bucket(request, request.query.get("bucket", ""))
    if request.app[ORIGIN].config.console.sign_in and _signer(request, bucket) is None:
        raise AccessDenied(f"sign in to bucket {bucket.name} with one of its access keys")
    return bucket


def _signer(request: web.Request, bucket: BucketConfig) -> str | None:
    """The access key id the visitor signed in to `bucket` with (a valid, unexpired cookie), or None."""
    key_id, _, rest = request.cookies.get(_cookie(bucket), "").partition(":")
    expires, _, mac = rest.partition(":")
    secret = bucket.access_keys.get(key_id)
    if secret is None or not expires.isdigit() or int(expires) < time.time():
        return None
    return key_id if hmac.compare_digest(mac.encode(), _mac(bucket, key_id, secret, int(expires)).encode()) else None


def _cookie(bucket: BucketConfig) -> str:
    return f"edge_console_{bucket.name}"


def _mac(bucket: BucketConfig, key_id: str, secret: str, expires: int) -> str:
    text = f"edge-console\n{bucket.name}\n{key_id}\n{expires}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _split(path: str) -> tuple[str, dict[str, str]]:
    """A spelling's `key?query` as (key, query) for signing."""
    key, _, query = path.partition("?")
    return unquote(key), dict(parse_qsl(query, keep_blank_values=True))


def _url(request: web.Request, bucket: BucketConfig, key: str, query: dict[str, str] | None = None) -> str:
    """The URL the page loads for `key` (with `query`): signed with the visitor's access key (or the
    bucket's first one, sign-in off) when the bucket wants signatures (private, or source protection)."""
    query = query or {}
    if not (bucket.private or bucket.protection.enabled) or not bucket.access_keys:
        text = "&".join(quote(k, safe="/,_-") + (f"={quote(v, safe='/,_-')}" if v else "") for k, v in query.items())
        return f"/{bucket.name}/{quote(key, safe='/@!-_.~')}" + (f"?{text}" if text else "")
    key_id = _signer(request, bucket) or next(iter(bucket.access_keys))
    process = query.pop("x-oss-process", "")
    if query:  # an imageMogr2 spelling: shown, but only new-API URLs are signed here
        return ""
    return signing.sign_url(f"{request.scheme}://{request.host}", bucket.name, key, key_id,
                            bucket.access_keys[key_id], URL_SECONDS, version="v4", process=process,
                            cname=bucket.is_bound_to(request.host))

