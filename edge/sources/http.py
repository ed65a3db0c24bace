"""Originals from an upstream HTTP origin (an OSS/S3 bucket endpoint, nginx, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from functools import partial
from typing import AsyncIterator
from urllib.parse import quote

import aiohttp
from aiohttp import web
from cachetools import TTLCache

from edge.config import Limits
from edge.errors import ImageTooLarge, InvalidRange, NoSuchKey, NotImplementedOss, SourceTimeout, SourceUnavailable
from edge.sources import SourceObject, checked_key
from edge.streams import read_capped

# Request headers worth forwarding for a pass-through, and response headers worth relaying.
_FORWARD = ("Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range")
_RELAY = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified")
_CHUNK = 64 * 1024


class UpstreamSession:
    """The server's one pooled aiohttp client session, which every HTTP source uses (one connection
    pool and DNS cache for all upstreams): given to each source when it is made, open while its own
    cleanup context runs (edge.app opens it before the sources' contexts)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session; RuntimeError outside the cleanup context (a bug, not an upstream fault)."""
        if self._session is None:
            raise RuntimeError("the upstream session is used outside its cleanup context")
        return self._session

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    async def cleanup_ctx(self, app) -> AsyncIterator[None]:
        """aiohttp cleanup context: the session lives while it runs."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=60), auto_decompress=False)
        yield
        await self._session.close()


class HttpSource:
    """Keys are appended, percent-encoded, to the `base` URL. Validators are cached for
    `revalidate_seconds` so a hot rendition does not cost an upstream round trip per request.

    Every fetch has `limits.fetch_timeout` seconds in all (connect, headers and body) and is
    answered 504 SourceTimeout past it; an upstream that fails otherwise is 502 SourceUnavailable.
    """

    def __init__(self, base: str, limits: Limits, upstream: UpstreamSession, revalidate_seconds: float = 0.0) -> None:
        self.base = base.rstrip("/") + "/"
        self.limits = limits
        self._upstream = upstream
        self._validators: TTLCache | None = (
            TTLCache(maxsize=100_000, ttl=revalidate_seconds) if revalidate_seconds > 0 else None)

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._upstream.session

    def url_of(self, key: str) -> str:
        return self.base + quote(checked_key(key), safe="/~")

    async def stat(self, key: str) -> SourceObject:
        if self._validators is not None and key in self._validators:
            known = self._validators[key]
            if known is None:
                raise NoSuchKey(f"the object {key} does not exist")
            return known
        try:
            async with self._request("HEAD", key) as upstream:
                obj = self._object(key, upstream.response)
        except NoSuchKey:
            # Style and `@` URLs first ask whether the whole key exists: remember the no as well.
            if self._validators is not None:
                self._validators[key] = None
            raise
        if self._validators is not None:
            self._validators[key] = obj
        return obj

    async def read(self, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        async with self._request("GET", key) as upstream:
            obj = self._object(key, upstream.response)
            if obj.size > limit:
                raise ImageTooLarge(f"the source object is {obj.size} bytes, over the limit of {limit}")
            try:
                async with upstream.budget.waiting():
                    body = await read_capped(upstream.response.content.iter_chunked(_CHUNK), limit, partial(
                        ImageTooLarge, f"the source object is over the limit of {limit} bytes"))
            except aiohttp.ClientError as exc:
                raise SourceUnavailable(f"the upstream failed while sending {key}: {_why(exc)}") from None
        return obj, body

    async def serve_original(self, request: web.Request, key: str) -> web.StreamResponse:
        headers = {name: request.headers[name] for name in _FORWARD if name in request.headers}
        async with self._request(request.method, key, headers=headers, passthrough=True) as upstream:
            response = upstream.response
            answer = web.StreamResponse(status=response.status)
            for name in _RELAY:
                if name in response.headers:
                    answer.headers[name] = response.headers[name]
            if response.status == 304 or request.method == "HEAD":
                return answer
            await answer.prepare(request)
            if await self._relay(upstream, answer):
                await answer.write_eof()
            elif request.transport is not None:
                # Headers are gone already: all we can do is cut the connection short.
                request.transport.close()
            return answer

    async def _relay(self, upstream: _Upstream, answer: web.StreamResponse) -> bool:
        """Copy the upstream's body to the client. False when the upstream failed or ran out of
        time, or sent a body of no declared length past the largest original we would read whole
        (max of limits.source_bytes and limits.video_bytes): an endless body is cut there."""
        response = upstream.response
        cap = max(self.limits.source_bytes, self.limits.video_bytes) if response.content_length is None else None
        sent = 0
        try:
            while True:
                async with upstream.budget.waiting():
                    chunk = await response.content.read(_CHUNK)
                if not chunk:
                    return True
                sent += len(chunk)
                if cap is not None and sent > cap:
                    return False
                await answer.write(chunk)
        except (aiohttp.ClientError, SourceTimeout):
            return False

    async def check(self) -> None:
        try:
            async with self.session.head(self.base, timeout=aiohttp.ClientTimeout(total=self.limits.connect_timeout)):
                return
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SourceUnavailable(f"the upstream {self.base} cannot be reached: {_why(exc)}") from None

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        raise NotImplementedOss(f"saveas into {self.base}: an http upstream is read-only")

    async def cleanup_ctx(self, app) -> AsyncIterator[None]:
        yield  # its session is the UpstreamSession's, which has its own cleanup context

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


class Budget:
    """The seconds an upstream has left to deliver one object: `limits.fetch_timeout` for connect,
    headers and body together. Only time spent waiting on the upstream counts, so the slow client
    of a pass-through does not use it up (aiohttp's `total` timeout would count that too)."""

    def __init__(self, limits: Limits, key: str) -> None:
        self.limits, self.key = limits, key
        self.left = limits.fetch_timeout

    @contextlib.asynccontextmanager
    async def waiting(self):
        """Wait on the upstream within what is left. Raises SourceTimeout when it runs out, or when
        aiohttp's connect or read timeout fires first."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self.left) as deadline:
                yield
        except TimeoutError as exc:
            if deadline.expired():
                why = f"did not deliver it within limits.fetch_timeout ({self.limits.fetch_timeout:g} s)"
            elif isinstance(exc, aiohttp.ConnectionTimeoutError):
                why = f"did not accept a connection within limits.connect_timeout ({self.limits.connect_timeout:g} s)"
            else:
                why = f"sent nothing for limits.read_timeout ({self.limits.read_timeout:g} s)"
            raise SourceTimeout(f"the upstream of {self.key} {why}") from None
        finally:
            self.left -= loop.time() - started


class _Upstream:
    """`async with` one upstream request (its `response`, and its `budget` for reading the body),
    mapping its failures to our errors."""

    def __init__(self, source: HttpSource, method: str, key: str, headers: dict, passthrough: bool) -> None:
        self.source, self.method, self.key = source, method, key
        self.headers, self.passthrough = headers, passthrough
        self.budget = Budget(source.limits, key)
        self.response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> _Upstream:
        limits = self.source.limits
        timeout = aiohttp.ClientTimeout(total=None, connect=limits.connect_timeout, sock_read=limits.read_timeout)
        try:
            async with self.budget.waiting():
                self.response = await self.source.session.request(
                    self.method, self.source.url_of(self.key), headers=self.headers,
                    timeout=timeout, allow_redirects=False)
        except (aiohttp.ClientError, OSError) as exc:
            raise SourceUnavailable(f"the upstream cannot be reached for {self.key}: {_why(exc)}") from None
        status = self.response.status
        if status in (404, 403, 410):
            self.response.release()
            raise NoSuchKey(f"the object {self.key} does not exist")
        if self.passthrough and status in (200, 206, 304):
            return self
        if status == 416 and self.passthrough:
            size = self.response.headers.get("Content-Range")  # "bytes */<size>": RFC 9110 15.5.17
            self.response.release()
            raise InvalidRange("the requested range is not satisfiable",
                               headers={"Content-Range": size} if size else None)
        if status != 200:
            self.response.release()
            # Redirects are not followed: an origin bucket answers its keys itself.
            raise SourceUnavailable(f"the upstream answered {status} for {self.key}")
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self.response is not None:
            self.response.release()


def _why(exc: BaseException) -> str:
    """What went wrong with the upstream, in words: answers never name a Python exception."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "its body was cut short or malformed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "it closed the connection"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "the connection was refused or failed"
    if isinstance(exc, asyncio.TimeoutError):
        return "it did not answer in time"
    return "the connection failed"


def _http_date(text: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(text).timestamp() if text else time.time()
    except (TypeError, ValueError):
        return time.time()
