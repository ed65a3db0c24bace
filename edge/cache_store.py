"""The last level of the rendition cache: a bucket (`[cache] store = "s3://bucket/prefix"`).

After memory, disk and Redis: slower than all three, but durable, as large as the bucket, and
shared by every instance across restarts. A rendition is the object `<prefix><digest>` with its
Content-Type, and its ETag and Last-Modified in user metadata; the digest names the source's
version, so an entry is never stale, only unread: an expiry rule on the prefix (docs/storage.md)
is what bounds the bucket. Writes go out in the background, at most WRITES at once (more are
skipped), so a miss never waits on the bucket; every call goes through a circuit breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import botocore.exceptions

from edge.breaker import Breaker
from edge.cache import Rendition
from edge.config import Limits, S3Config
from edge.log_throttle import LogThrottle
from edge.metrics import Metrics
from edge.sources.s3 import bucket_failure, looking, s3_client, split_url, status_of

log = logging.getLogger("edge.cache")
TIMEOUT = 5.0  # seconds for one whole call, a multi-megabyte rendition included
WRITES = 32  # background writes at once
_CALLS = 64  # calls at once through the breaker (reads and writes)


class StoreFault(OSError):
    """The store bucket answered with an error other than "no such object" (credentials, 5xx)."""


class StoreLevel:
    """Renditions as objects in an S3-protocol bucket."""

    name = "store"

    def __init__(self, url: str, settings: S3Config, limits: Limits, metrics: Metrics) -> None:
        self.bucket, self.prefix = split_url(url)
        self.settings, self.limits = settings, limits
        self.client = None
        self.breaker = Breaker("store", self._probe, (StoreFault, botocore.exceptions.BotoCoreError,
                                                      aiohttp.ClientError), metrics,
                               timeout=TIMEOUT, most=_CALLS, stall=TIMEOUT)
        self._writes: set[asyncio.Task] = set()
        self._stack = contextlib.AsyncExitStack()
        self._start_problem: str | None = None
        self._log = LogThrottle(log)

    async def open(self) -> None:
        """Open the client and look at the bucket once, in the background: a store that cannot be
        used is a warning and a /readyz problem (degraded), never a refusal to start."""
        # One try a call: a miss costs a render anyway, and retrying would hold every miss while the
        # store is down, until the breaker opens.
        self.client = await self._stack.enter_async_context(s3_client(self.settings, self.limits, _CALLS, attempts=1))
        await self._stack.enter_async_context(looking(self._look_at_start()))

    async def _look_at_start(self) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                await self._probe()
        except (OSError, botocore.exceptions.BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            self._start_problem = f"store: the bucket {self.bucket} cannot be used ({_describe(exc)})"
            log.warning("%s; renditions are made, not read from it, until it answers", self._start_problem)

    def problems(self) -> list[str]:
        problem = self.breaker.problem() or self._start_problem
        return [problem] if problem else []

    async def get(self, digest: str) -> Rendition | None:
        return await self.breaker.call(lambda: self._get(digest), None)

    async def put(self, digest: str, rendition: Rendition) -> None:
        if len(self._writes) >= WRITES:
            self._log.log("busy", logging.WARNING, "store: %d writes under way; not storing more until they end",
                          WRITES)
            return
        task = asyncio.ensure_future(self.breaker.call(lambda: self._put(digest, rendition), None))
        self._writes.add(task)
        task.add_done_callback(self._written)

    async def close(self) -> None:
        """Let the writes under way finish (each within TIMEOUT), then close the client."""
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=TIMEOUT)
        await self.breaker.close()
        await self._stack.aclose()

    async def _get(self, digest: str) -> Rendition | None:
        try:
            got = await self.client.get_object(Bucket=self.bucket, Key=self.prefix + digest)
        except botocore.exceptions.ClientError as exc:
            if status_of(exc)[0] == 404:
                self._start_problem = None
                return None
            raise _fault(exc) from None
        async with got["Body"] as stream:
            body = await stream.read()
        self._start_problem = None
        meta = got.get("Metadata", {})
        if "etag" not in meta or len(body) != got.get("ContentLength", -1):
            return None  # not one of ours, or cut short
        try:
            modified = float(meta.get("modified", "0"))
        except ValueError:
            return None
        return Rendition(body, got.get("ContentType", "application/octet-stream"), meta["etag"], modified)

    async def _put(self, digest: str, rendition: Rendition) -> None:
        try:
            await self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + digest, Body=rendition.body,
                ContentType=rendition.content_type,
                Metadata={"etag": rendition.etag, "modified": repr(rendition.last_modified)})
        except botocore.exceptions.ClientError as exc:
            raise _fault(exc) from None
        self._start_problem = None

    async def _probe(self) -> None:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as exc:
            raise _fault(exc) from None

    def _written(self, task: asyncio.Task) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.log("write", logging.WARNING, "store: a write failed: %s", _describe(task.exception()))


def _fault(exc: botocore.exceptions.ClientError) -> StoreFault:
    return StoreFault(_describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StoreFault):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    return "it " + bucket_failure(exc, keys="cache.s3.access_key_id and secret_access_key")
