"""Originals from an upstream HTTP origin (an OSS/S3 bucket endpoint, nginx, ...)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from urllib.parse import quote

import aiohttp
from aiohttp import web
from cachetools import TTLCache

from edge.config import Limits
from edge.errors import ImageTooLarge, InvalidObjectName, InvalidRange, NoSuchKey, SourceUnavailable
from edge.sources import SourceObject

# Request headers worth forwarding for a pass-through, and response headers worth relaying.
_FORWARD = ("Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range")
_RELAY = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified")
_CHUNK = 64 * 1024


class HttpSource:
    """Keys are appended, percent-encoded, to the `base` URL. Validators are cached for
    `revalidate_seconds` so a hot rendition does not cost an upstream round trip per request."""

    def __init__(self, base: str, limits: Limits, session_holder, revalidate_seconds: float = 0.0) -> None:
        self.base = base.rstrip("/") + "/"
        self.limits = limits
        self._holder = session_holder
        self._validators: TTLCache | None = (
            TTLCache(maxsize=100_000, ttl=revalidate_seconds) if revalidate_seconds > 0 else None)

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._holder.session

    def url_of(self, key: str) -> str:
        if not key or "\x00" in key or len(key) > 1023:
            raise InvalidObjectName(f"the object key {key!r} is not a valid key")
        if any(part in (".", "..") for part in key.split("/")):
            raise InvalidObjectName(f"the object key {key!r} has a '.' or '..' segment")
        return self.base + quote(key, safe="/~")

    async def stat(self, key: str) -> SourceObject:
        if self._validators is not None and key in self._validators:
            known = self._validators[key]
            if known is None:
                raise NoSuchKey(f"the object {key} does not exist")
            return known
        try:
            async with self._request("HEAD", key) as response:
                obj = self._object(key, response)
        except NoSuchKey:
            # Style and `@` URLs first ask whether the whole key exists: remember the no as well.
            if self._validators is not None:
                self._validators[key] = None
            raise
        if self._validators is not None:
            self._validators[key] = obj
        return obj

    async def read(self, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        async with self._request("GET", key) as response:
            obj = self._object(key, response)
            if obj.size > limit:
                raise ImageTooLarge(f"the source object is {obj.size} bytes, over the limit of {limit}")
            body = bytearray()
            try:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > limit:
                        raise ImageTooLarge(f"the source object is over the limit of {limit} bytes")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise SourceUnavailable(f"the upstream failed while sending {key}: {type(exc).__name__}") from None
        return obj, bytes(body)

    async def serve_original(self, request: web.Request, key: str) -> web.StreamResponse:
        headers = {name: request.headers[name] for name in _FORWARD if name in request.headers}
        async with self._request(request.method, key, headers=headers, passthrough=True) as upstream:
            answer = web.StreamResponse(status=upstream.status)
            for name in _RELAY:
                if name in upstream.headers:
                    answer.headers[name] = upstream.headers[name]
            if upstream.status == 304 or request.method == "HEAD":
                return answer
            await answer.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(_CHUNK):
                    await answer.write(chunk)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                # Headers are gone already: all we can do is cut the connection short.
                request.transport and request.transport.close()
                return answer
            await answer.write_eof()
            return answer

    async def check(self) -> None:
        try:
            async with self.session.head(self.base, timeout=aiohttp.ClientTimeout(total=self.limits.connect_timeout)):
                return
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SourceUnavailable(f"the upstream {self.base} cannot be reached: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None

    def _request(self, method: str, key: str, headers: dict | None = None, passthrough: bool = False):
        return _Upstream(self, method, key, headers or {}, passthrough)

    def _object(self, key: str, response: aiohttp.ClientResponse) -> SourceObject:
        length = int(response.headers.get("Content-Length", "0") or 0)
        modified = response.headers.get("Last-Modified", "")
        etag = response.headers.get("ETag", "").removeprefix("W/") or f'"{modified}-{length:x}"'
        return SourceObject(
            key=key,
            size=length,
            etag=etag,
            last_modified=_http_date(modified),
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
        )


class _Upstream:
    """`async with` one upstream request, mapping its failures to our errors."""

    def __init__(self, source: HttpSource, method: str, key: str, headers: dict, passthrough: bool) -> None:
        self.source, self.method, self.key = source, method, key
        self.headers, self.passthrough = headers, passthrough
        self.response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        limits = self.source.limits
        timeout = aiohttp.ClientTimeout(total=None, connect=limits.connect_timeout, sock_read=limits.read_timeout)
        try:
            self.response = await self.source.session.request(
                self.method, self.source.url_of(self.key), headers=self.headers,
                timeout=timeout, allow_redirects=False)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise SourceUnavailable(f"the upstream cannot be reached for {self.key}: {type(exc).__name__}") from None
        status = self.response.status
        if status in (404, 403, 410):
            self.response.release()
            raise NoSuchKey(f"the object {self.key} does not exist")
        if self.passthrough and status in (200, 206, 304):
            return self.response
        if status == 416 and self.passthrough:
            self.response.release()
            raise InvalidRange("the requested range is not satisfiable")
        if status != 200:
            self.response.release()
            raise SourceUnavailable(f"the upstream answered {status} for {self.key}")
        return self.response

    async def __aexit__(self, *exc_info) -> None:
        if self.response is not None:
            self.response.release()


def _http_date(text: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(text).timestamp() if text else time.time()
    except (TypeError, ValueError):
        return time.time()
