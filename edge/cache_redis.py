"""The shared level of the rendition cache: Redis, so several origin instances share renditions."""

from __future__ import annotations

import logging

import redis.asyncio as redis_async
from redis.exceptions import RedisError

from edge.cache import Rendition, dump, load

log = logging.getLogger("edge.cache")
_PREFIX = "edge:r:"


class RedisLevel:
    """Renditions as Redis strings with a TTL; Redis' own maxmemory policy bounds the total.

    Timeouts are short: a slow or absent Redis costs a miss, not a slow answer.
    """

    name = "redis"

    def __init__(self, url: str, ttl_seconds: int) -> None:
        self.ttl = ttl_seconds
        self.client = redis_async.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    async def open(self) -> None:
        return None

    async def get(self, digest: str) -> Rendition | None:
        try:
            blob = await self.client.get(_PREFIX + digest)
        except RedisError as exc:
            log.warning("redis read failed: %s", exc)
            return None
        return load(blob) if blob else None

    async def put(self, digest: str, rendition: Rendition) -> None:
        try:
            await self.client.set(_PREFIX + digest, dump(rendition), ex=self.ttl or None)
        except RedisError as exc:
            log.warning("redis write failed: %s", exc)

    async def close(self) -> None:
        await self.client.aclose()
