"""Fleet-wide single-flight: of all the instances sharing one Redis, one makes a rendition and
the others take it from Redis.

An instance that misses every cache level asks for the rendition's lease: a Redis key
`edge:lease:<digest>` set only if absent (SET NX PX) to a token naming the instance. The
holder makes the rendition, which the cache writes to Redis, then deletes its lease; while it
renders it renews the lease every third of `lease_seconds`, so only a holder that died (or
lost Redis) lets it expire. The others poll Redis every `_POLL` seconds for the rendition or
the lease's end: the rendition is taken from Redis; a lease gone without a rendition (the
holder failed or died) is asked for again, so one of the waiters takes over. A waiter that
has waited `wait_seconds` makes the rendition itself. A holder whose job fails for good (what
edge.renditions remembers: a 4xx, a job timeout) publishes the error before it ends the lease,
and the others raise it rather than run the job again.

Redis down (its circuit breaker open, a call failed or refused) is never an error: the
instance makes the rendition itself, so there is still one render per instance (its local
single-flight), as without Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from typing import Awaitable, Callable

from redis.exceptions import RedisError

from edge import errors
from edge.breaker import Refused
from edge.cache import Rendition, RenditionCache
from edge.cache_redis import RedisLevel, rendition_key
from edge.errors import OssError
from edge.metrics import Metrics
from edge.renditions import FAILURE_SECONDS, lasting

_POLL = 0.05  # seconds between a waiter's looks at Redis: the latency it adds to a coalesced answer
_DOWN = object()  # Redis failed, or its breaker is open or stalled
_BUSY = object()  # the breaker refused a call for the calls already in flight
_BUSY_SECONDS = 1.0  # how long a lease is asked for again while the breaker is busy; then render here

# Compare-and-set scripts: only the holder's own token renews or ends its lease.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def lease_key(digest: str) -> str:
    """The Redis key of the lease on the rendition stored under `digest`."""
    return "edge:lease:" + digest


def failure_key(digest: str) -> str:
    """The Redis key of a holder's lasting failure to make the rendition (a corrupt source, a
    result over the limits, a job timeout): the others raise it instead of running the job again."""
    return "edge:fail:" + digest


def instance_token() -> str:
    """`<host>:<pid>:<random>`: names the holder of a lease (operators read it with redis-cli)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


class FleetFlight:
    """Makes each rendition once across the instances sharing `redis` (see the module docstring).

    `lease_seconds` is how long a dead holder keeps the others waiting before one takes over;
    `wait_seconds` the longest a waiter waits for a live holder before rendering itself.
    """

    def __init__(self, redis: RedisLevel, cache: RenditionCache, lease_seconds: float, wait_seconds: float,
                 metrics: Metrics) -> None:
        self.redis, self.cache, self.metrics = redis, cache, metrics
        self.lease_ms = max(int(lease_seconds * 1000), 1)
        self.wait_seconds = wait_seconds
        self._renewals: set[asyncio.Task] = set()

    async def run(self, digest: str, make: Callable[[], Awaitable[Rendition]]) -> Rendition:
        """The rendition stored under `digest`: made here by `make()` (which must write it to the
        cache) under the fleet's lease, or taken from Redis once another instance made it.
        Raises what `make()` raises, here or (a lasting failure: edge.renditions.lasting) on the
        instance that held the lease."""
        deadline = time.monotonic() + self.wait_seconds
        busy_until = time.monotonic() + _BUSY_SECONDS
        taking_over = False
        while True:
            token = instance_token()
            got = await self._call(lambda: self.redis.client.set(lease_key(digest), token, nx=True, px=self.lease_ms))
            if got is _BUSY and time.monotonic() < min(deadline, busy_until):
                await asyncio.sleep(_POLL)
                continue
            if got in (_DOWN, _BUSY):
                return await self._counted("local", make)
            if got:
                return await self._hold(digest, token, make, "takeover" if taking_over else "made")
            seen = await self._wait(digest, deadline)
            if seen is _DOWN:
                return await self._counted("local", make)
            if isinstance(seen, Rendition):
                self.metrics.fleet_flights.labels("taken").inc()
                return seen
            if isinstance(seen, OssError):
                raise seen
            if seen == "late":
                return await self._counted("waited_out", make)
            taking_over = True  # the lease ended without a rendition: ask for it again

    async def _hold(self, digest: str, token: str, make: Callable[[], Awaitable[Rendition]],
                    outcome: str) -> Rendition:
        """Make the rendition as the lease's holder, renewing the lease meanwhile, then end it."""
        ended = asyncio.Event()
        renewing = asyncio.get_running_loop().create_task(self._renew(digest, token, ended))
        self._renewals.add(renewing)  # the loop holds tasks weakly
        renewing.add_done_callback(self._renewals.discard)
        try:
            # Made (or failed) and released between our cache miss and our lease: do not make it again.
            seen = await self._call(lambda: self._look(digest))
            if seen not in (_DOWN, _BUSY):
                ready, _, failure = seen
                if failure is not None:
                    raise failure
                found = (await self.cache.get(digest))[0] if ready else None
                if found is not None:
                    self.metrics.fleet_flights.labels("taken").inc()
                    return found
            try:
                return await self._counted(outcome, make)
            except OssError as exc:
                if lasting(exc):
                    published = json.dumps([type(exc).__name__, exc.message])
                    await self._call(lambda: self.redis.client.set(failure_key(digest), published,
                                                                   px=FAILURE_SECONDS * 1000))
                raise
        finally:
            # Told to stop, not cancelled: a Redis call in flight may turn a cancellation into a
            # connection error, which the breaker takes as a fault, and the renewal would go on.
            ended.set()
            await self._call(lambda: self.redis.client.eval(_RELEASE, 1, lease_key(digest), token))

    async def _renew(self, digest: str, token: str, ended: asyncio.Event) -> None:
        """Renew the lease every third of its time until `ended` is set."""
        while True:
            try:
                await asyncio.wait_for(ended.wait(), self.lease_ms / 3000)
                return
            except TimeoutError:
                await self._call(lambda: self.redis.client.eval(_RENEW, 1, lease_key(digest), token, self.lease_ms))

    async def _wait(self, digest: str, deadline: float) -> object:
        """Poll until the rendition is in Redis (returned), the holder's failure is (returned),
        the lease is gone ("gone"), the deadline passed ("late") or Redis failed (_DOWN)."""
        while True:
            await asyncio.sleep(_POLL)
            seen = await self._call(lambda: self._look(digest))
            if seen is _BUSY and time.monotonic() < deadline:
                continue
            if seen in (_DOWN, _BUSY):
                return _DOWN
            ready, leased, failure = seen
            if failure is not None:
                return failure
            if ready:
                found, _ = await self.cache.get(digest)  # also copies it into the faster levels
                return found if found is not None else _DOWN
            if not leased:
                return "gone"
            if time.monotonic() >= deadline:
                return "late"

    async def _look(self, digest: str) -> tuple[bool, bool, OssError | None]:
        """(the rendition is in Redis, the lease is held, the holder's published failure), in one
        round trip."""
        async with self.redis.client.pipeline(transaction=False) as pipe:
            pipe.exists(rendition_key(digest))
            pipe.exists(lease_key(digest))
            pipe.get(failure_key(digest))
            ready, leased, failure = await pipe.execute()
        return bool(ready), bool(leased), _failure(failure)

    async def _counted(self, outcome: str, make: Callable[[], Awaitable[Rendition]]) -> Rendition:
        self.metrics.fleet_flights.labels(outcome).inc()
        return await make()

    async def _call(self, command: Callable[[], Awaitable[object]]) -> object:
        """A Redis command through the cache level's breaker: its answer; _BUSY when the breaker
        refused it for the calls in flight (a burst of cache lookups, worth another try); _DOWN
        when Redis failed or the breaker refused it otherwise (open, or stalled: Redis has
        stopped answering)."""
        breaker = self.redis.breaker
        try:
            return await breaker.attempt(command)
        except Refused as refused:
            return _BUSY if refused.reason == "busy" else _DOWN
        except (RedisError, *breaker.faults):  # a command refused by Redis is as good as down here
            return _DOWN


def _failure(published: bytes | None) -> OssError | None:
    """The OssError a holder published, or None (nothing published, or nothing this version knows)."""
    try:
        name, message = json.loads(published) if published else (None, None)
    except (ValueError, TypeError):
        return None
    kind = getattr(errors, name, None) if isinstance(name, str) else None
    return kind(str(message)) if isinstance(kind, type) and issubclass(kind, OssError) else None
