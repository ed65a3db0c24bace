"""The shared level of the rendition cache: Redis, so several origin instances share renditions."""

from __future__ import annotations

import logging

import redis.asyncio as redis_async
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from edge.breaker import Breaker
from edge.cache import Rendition, dump, load
from edge.log_throttle import LogThrottle
from edge.metrics import Metrics

log = logging.getLogger("edge.cache")
_PREFIX = "edge:r:"
_TIMEOUT = 0.5  # seconds for a whole call; Redis answers in about a millisecond
_IN_FLIGHT = 16  # calls at once; more are skipped (a miss), so the pool never waits for a connection


def rendition_key(digest: str) -> str:
    """The Redis key of the rendition stored under `digest`."""
    return _PREFIX + digest


class RedisLevel:
    """Renditions as Redis strings with a TTL; Redis' own maxmemory policy bounds the total.

    Every call goes through a circuit breaker (edge.breaker): a slow, hung or absent Redis
    costs a few requests one deadline each, then every call is a miss at once until a
    background PING answers again. redis-py's own retries are off (they would multiply the
    deadline), and its pool holds one connection per call the breaker lets through, plus one
    for the probe, so taking a connection never waits.
    """

    name = "redis"

    def __init__(self, url: str, ttl_seconds: int, metrics: Metrics) -> None:
        self.ttl = ttl_seconds
        self.client = redis_async.from_url(
            url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT, retry=Retry(NoBackoff(), 0),
            max_connections=_IN_FLIGHT + 1)
        self.breaker = Breaker("redis", self.client.ping, (RedisConnectionError, RedisTimeoutError, OSError),
                               metrics, timeout=_TIMEOUT, most=_IN_FLIGHT)
        self._log = LogThrottle(log)

    async def open(self) -> None:
        return None

    def problems(self) -> list[str]:
        problem = self.breaker.problem()
        return [problem] if problem else []

    async def get(self, digest: str) -> Rendition | None:
        try:
            blob = await self.breaker.call(lambda: self.client.get(rendition_key(digest)), None)
        except RedisError as exc:  # an error answer (e.g. a command refused): Redis is up, this is a miss
            self._log.log("read", logging.WARNING, "redis read failed: %s", exc)
            return None
        return load(blob) if blob else None

    async def put(self, digest: str, rendition: Rendition) -> None:
        try:
            await self.breaker.call(
                lambda: self.client.set(rendition_key(digest), dump(rendition), ex=self.ttl or None), None)
        except RedisError as exc:  # e.g. OOM past maxmemory with a noeviction policy
            self._log.log("write", logging.WARNING, "redis write failed: %s", exc)

    async def close(self) -> None:
        await self.breaker.close()
        await self.client.aclose()
