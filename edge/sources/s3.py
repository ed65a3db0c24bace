"""Originals in an S3-protocol bucket (AWS S3, Alibaba OSS, MinIO), through aiobotocore.

The client is async on aiohttp, so the event loop never waits on it. Every call has the
limits' connect and read timeouts, `limits.fetch_timeout` in all, and botocore's "standard"
retries (ATTEMPTS tries, jittered exponential back-off) on 5xx answers, throttling and
broken connections. What the bucket says is never relayed: a missing object is NoSuchKey,
anything else that fails is our 502 SourceUnavailable (504 SourceTimeout past a deadline)
with Retry-After, one log line a minute per fault, and a /readyz problem while it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from typing import AsyncIterator, Awaitable

import aiohttp
import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web
from cachetools import LRUCache

from edge.cache import SingleFlight
from edge.config import Limits, S3Config
from edge.errors import (ImageTooLarge, InvalidRange, NoSuchKey, OssError, PreconditionFailed, SourceTimeout,
                         SourceUnavailable)
from edge.log_throttle import LogThrottle
from edge.sources import SourceObject, checked_key
from edge.sources.http import Budget

log = logging.getLogger("edge.s3")
ATTEMPTS = 3
RETRY_AFTER = "2"  # seconds: about what botocore's back-off waited before giving up
_CHUNK = 64 * 1024
_KNOWN = 100_000  # objects whose validators are kept
# A pass-through's conditional headers and the GetObject parameters they become. If-Range is not
# among them (S3 has no such parameter): a Range with If-Range is answered whole, as RFC 9110 allows.
_CONDITIONS = {"If-None-Match": "IfNoneMatch", "If-Match": "IfMatch",
               "If-Modified-Since": "IfModifiedSince", "If-Unmodified-Since": "IfUnmodifiedSince"}
_REFUSALS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "InvalidToken",
             "ExpiredToken", "AllAccessDisabled"}
_FAULTS = (botocore.exceptions.BotoCoreError, aiohttp.ClientError, OSError)


def split_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/" or "") of `s3://bucket/prefix`."""
    bucket, _, prefix = url[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


@contextlib.asynccontextmanager
async def s3_client(settings: S3Config, limits: Limits, connections: int = 64,
                    attempts: int = ATTEMPTS) -> AsyncIterator:
    """An aiobotocore S3 client for `settings`, closed on leaving, trying each call `attempts` times.
    Checksums only where the API requires them: Alibaba OSS and older MinIO refuse the aws-chunked
    bodies botocore sends by default."""
    config = AioConfig(
        region_name=settings.region, connect_timeout=limits.connect_timeout, read_timeout=limits.read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"}, max_pool_connections=connections,
        s3={"addressing_style": settings.addressing_style}, signature_version="s3v4",
        request_checksum_calculation="when_required", response_checksum_validation="when_required")
    keys = ({"aws_access_key_id": settings.access_key_id, "aws_secret_access_key": settings.secret_access_key}
            if settings.access_key_id else {})
    async with get_session().create_client("s3", endpoint_url=settings.endpoint_url or None, config=config,
                                           **keys) as client:
        yield client


def status_of(exc: botocore.exceptions.ClientError) -> tuple[int, str]:
    """(HTTP status, error code) of an answer botocore raised."""
    meta = exc.response.get("ResponseMetadata", {})
    return int(meta.get("HTTPStatusCode") or 0), str(exc.response.get("Error", {}).get("Code", ""))


def bucket_failure(exc: BaseException, keys: str = "access_key_id and secret_access_key") -> str:
    """What a call to a bucket that failed with `exc` says of the bucket, in words that follow its
    name ("the S3 bucket b at ... refused our credentials (InvalidAccessKeyId)"): a refusal of our
    credentials, "does not exist" (a 404 about the bucket), another status, no credentials to
    sign with (set `keys`), or a connection that failed. Never the bucket's own words verbatim,
    never a Python exception's name."""
    if isinstance(exc, botocore.exceptions.ClientError):
        status, code = status_of(exc)
        if status == 403 or code in _REFUSALS:
            return f"refused our credentials ({code or status})"
        if status == 404:
            return "does not exist"
        return f"answered {status} {code}".rstrip()
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return f"cannot be signed for: no credentials (set {keys}, or the AWS environment)"
    return f"cannot be reached ({_why(exc)})"


@contextlib.asynccontextmanager
async def looking(look: Awaitable[None]) -> AsyncIterator[None]:
    """Run `look` (a start-up look at a bucket) in the background while the context lasts, so
    that a slow bucket does not hold the start-up; cancelled at the end if still running."""
    task = asyncio.ensure_future(look)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class S3Source:
    """Keys below `prefix` in one bucket. Validators are kept for `revalidate_seconds`; after that
    the next look is a HEAD with If-None-Match (304 while unchanged), never a download."""

    def __init__(self, url: str, settings: S3Config, limits: Limits, revalidate_seconds: float) -> None:
        self.bucket, self.prefix = split_url(url)
        self.settings, self.limits, self.revalidate_seconds = settings, limits, revalidate_seconds
        self.where = f"the S3 bucket {self.bucket} at {settings.endpoint_url or 'AWS ' + settings.region}"
        self.client = None
        self._known: LRUCache = LRUCache(maxsize=_KNOWN)  # key -> (SourceObject or None, checked at)
        self._looks = SingleFlight(None, joins=_Uncounted())  # one HEAD for all the requests that ask at once
        self._no_bucket = False  # the last look at the bucket found none
        self._log = LogThrottle(log)

    async def cleanup_ctx(self, app) -> AsyncIterator[None]:
        """aiohttp cleanup context: the client opens with the application and closes with it. The
        bucket is looked at once in the background: one that cannot be used is a warning, not a
        refusal (it may come up later), and a slow one does not hold the start-up."""
        async with s3_client(self.settings, self.limits) as self.client, looking(self._look_at_start()):
            yield

    async def _look_at_start(self) -> None:
        try:
            await self.check()
        except OssError as exc:
            log.warning("%s; renditions from it fail with 502 until it answers", exc.message)

    def _name(self, key: str) -> str:
        return self.prefix + checked_key(key)

    async def stat(self, key: str) -> SourceObject:
        name = self._name(key)
        known = self._known.get(key)
        if known is not None and time.monotonic() - known[1] < self.revalidate_seconds:
            obj = known[0]
        else:
            obj = await self._looks.run(key, lambda: self._look(key, name, known[0] if known else None))
        if obj is None:
            raise NoSuchKey(f"the object {key} does not exist")
        return obj

    async def _look(self, key: str, name: str, known: SourceObject | None) -> SourceObject | None:
        """The validators of `key` (None: no such object), remembered; a HEAD conditional on `known`."""
        condition = {"IfNoneMatch": known.etag} if known is not None else {}
        try:
            async with _Deadline(self.limits, key).waiting():
                head = await self._call(key, self.client.head_object(Bucket=self.bucket, Key=name, **condition))
            obj = _object(key, head)
        except _NotModified:
            obj = known
        except NoSuchKey:
            obj = None  # style and `@` URLs first ask whether the whole key exists: remember the no too
        self._known[key] = (obj, time.monotonic())
        return obj

    async def read(self, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        name = self._name(key)
        budget = _Deadline(self.limits, key)
        async with budget.waiting():
            got = await self._call(key, self.client.get_object(Bucket=self.bucket, Key=name))
        obj = _object(key, got)
        async with got["Body"] as stream:
            if "ContentLength" not in got:  # S3 always sends it: the cap below relies on it
                raise self._unavailable(key, f"sent {key} without a Content-Length")
            if obj.size > limit:
                raise ImageTooLarge(f"the source object is {obj.size} bytes, over the limit of {limit}")
            try:
                # At most Content-Length bytes (aiohttp stops there), read in one call: a loop of
                # 64 KiB reads cost twice the CPU of the whole download.
                async with budget.waiting():
                    body = await stream.read()
            except _FAULTS as exc:
                raise self._unavailable(key, f"failed while sending {key} ({_why(exc)})") from None
        if len(body) != obj.size:
            raise self._unavailable(key, f"sent {len(body)} of the {obj.size} bytes of {key}")
        self._known[key] = (obj, time.monotonic())
        return obj, body

    async def serve_original(self, request: web.Request, key: str) -> web.StreamResponse:
        name = self._name(key)
        asked = {param: request.headers[header] for header, param in _CONDITIONS.items() if header in request.headers}
        for param in ("IfModifiedSince", "IfUnmodifiedSince"):
            if param in asked:
                try:
                    asked[param] = email.utils.parsedate_to_datetime(asked[param])
                except (TypeError, ValueError):
                    del asked[param]  # an unreadable date is ignored (RFC 9110 13.1.3)
        if "Range" in request.headers and "If-Range" not in request.headers:
            asked["Range"] = request.headers["Range"]
        budget = _Deadline(self.limits, key)
        call = self.client.head_object if request.method == "HEAD" else self.client.get_object
        try:
            async with budget.waiting():
                got = await self._call(key, call(Bucket=self.bucket, Key=name, **asked))
        except _NotModified as unchanged:
            answer = web.StreamResponse(status=304)
            if unchanged.etag:
                answer.headers["ETag"] = unchanged.etag
            return answer
        obj = _object(key, got)
        answer = web.StreamResponse(status=206 if got.get("ContentRange") else 200)
        answer.headers.update({"Content-Type": obj.content_type, "ETag": obj.etag, "Accept-Ranges": "bytes",
                               "Last-Modified": email.utils.formatdate(obj.last_modified, usegmt=True)})
        if got.get("ContentRange"):
            answer.headers["Content-Range"] = got["ContentRange"]
        answer.content_length = int(got.get("ContentLength", 0))
        if request.method == "HEAD":
            return answer
        async with got["Body"] as stream:
            await answer.prepare(request)
            try:
                while True:
                    async with budget.waiting():
                        chunk = await stream.read(_CHUNK)
                    if not chunk:
                        break
                    await answer.write(chunk)
            except (*_FAULTS, SourceTimeout):
                # Headers are gone already: all we can do is cut the connection short.
                if request.transport is not None:
                    request.transport.close()
                return answer
        await answer.write_eof()
        return answer

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` as `key`: one PUT, so readers see the old object or the whole new one."""
        name = self._name(key)
        async with _Deadline(self.limits, key).waiting():
            await self._call(key, self.client.put_object(Bucket=self.bucket, Key=name, Body=body,
                                                         ContentType=content_type))
        self._known.pop(key, None)

    async def check(self) -> None:
        try:
            async with asyncio.timeout(self.limits.connect_timeout + self.limits.read_timeout):
                await self._call("", self.client.head_bucket(Bucket=self.bucket))
            self._no_bucket = False
        except TimeoutError:
            raise SourceUnavailable(f"{self.where} did not answer within "
                                    f"{self.limits.connect_timeout + self.limits.read_timeout:g} s") from None

    async def _call(self, key: str, call):
        """`await call`, its failures mapped to ours (never the bucket's words verbatim as an answer)."""
        try:
            return await call
        except botocore.exceptions.ClientError as exc:
            status, code = status_of(exc)
            if status == 304:
                raise _NotModified(exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("etag"))
            if status == 404:
                # A HEAD's 404 has no body to tell a missing bucket from a missing key: the bucket is
                # known missing from the last look at it (start-up, /readyz).
                self._no_bucket = self._no_bucket or not key or code == "NoSuchBucket"
                if not self._no_bucket:
                    raise NoSuchKey(f"the object {key} does not exist") from None
            if status == 412:
                raise PreconditionFailed("the object does not match the precondition") from None
            if status == 416:
                raise InvalidRange("the requested range is not satisfiable") from None
            raise self._unavailable(key, bucket_failure(exc)) from None
        except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError):
            if key:
                self._log.log(("timeout", self.bucket), logging.WARNING, "%s did not answer in time", self.where)
            raise SourceTimeout(f"{self.where} did not answer within the source timeouts",
                                headers={"Retry-After": RETRY_AFTER}) from None
        except _FAULTS as exc:  # no credentials to sign with too
            raise self._unavailable(key, bucket_failure(exc)) from None

    def _unavailable(self, key: str, what: str) -> SourceUnavailable:
        """The 502 for a failure of the bucket, logged once a minute per kind of failure (not for a
        look at the bucket itself, key "": /readyz, the start-up warning and check-config say it)."""
        if key:
            self._log.log((what.split()[0], self.bucket), logging.WARNING, "%s %s", self.where, what)
        return SourceUnavailable(f"{self.where} {what}", headers={"Retry-After": RETRY_AFTER})


class _Deadline(Budget):
    """limits.fetch_timeout for one fetch (edge.sources.http.Budget), its 504 with Retry-After."""

    @contextlib.asynccontextmanager
    async def waiting(self):
        try:
            async with super().waiting():
                yield
        except SourceTimeout as exc:
            exc.headers.setdefault("Retry-After", RETRY_AFTER)
            raise


class _Uncounted:
    """The join counter of the HEADs' single-flight: they are not counted (singleflight_joins
    counts renditions)."""

    def inc(self) -> None:
        return None


class _NotModified(Exception):
    def __init__(self, etag: str | None) -> None:
        super().__init__(etag)
        self.etag = etag


def _object(key: str, answer: dict) -> SourceObject:
    modified = answer.get("LastModified")
    length = int(answer.get("ContentLength", 0))
    stamp = modified.timestamp() if modified is not None else time.time()
    return SourceObject(key=key, size=length, etag=answer.get("ETag") or f'"{stamp:.0f}-{length:x}"',
                        last_modified=stamp, content_type=answer.get("ContentType") or "application/octet-stream")


def _why(exc: BaseException) -> str:
    """The failure in words: answers never name a Python exception."""
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, aiohttp.ClientConnectorError,
                        ConnectionRefusedError)):
        return "the connection was refused or failed"
    if isinstance(exc, (botocore.exceptions.ConnectionClosedError, aiohttp.ServerDisconnectedError)):
        return "it closed the connection"
    if isinstance(exc, (aiohttp.ClientPayloadError, botocore.exceptions.IncompleteReadError)):
        return "its body was cut short or malformed"
    return "the connection failed"
