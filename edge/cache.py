"""The rendition cache: levels (memory, disk, Redis) behind one facade, and single-flight of misses.

A rendition is stored under a digest of (render version, bucket, key, source
validator, canonical process string: edge.renditions.rendition_digest), so a
changed source, process or render version never finds an old entry. Lower levels are slower and larger; a hit in one is
copied into the levels above it. A level that fails (a full disk, Redis
down) counts as a miss: the cache never fails a request, and a level that keeps failing is
skipped or paused by the level itself and reported by `problems()` (/readyz: degraded).
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, Protocol, TypeVar

from cachetools import LRUCache

from edge import tracing
from edge.log_throttle import LogThrottle
from edge.metrics import Metrics

log = logging.getLogger("edge.cache")
T = TypeVar("T")
_ENTRY_OVERHEAD = 256  # bytes of bookkeeping per entry, so tiny renditions still count
_META = struct.Struct("!I")


@dataclass(frozen=True)
class Rendition:
    """A finished answer body and what its headers need."""

    body: bytes
    content_type: str
    etag: str
    last_modified: float


def dump(rendition: Rendition) -> bytes:
    """Serialise for the disk and Redis levels: meta length, JSON meta (with the body's length), body."""
    meta = json.dumps({"type": rendition.content_type, "etag": rendition.etag,
                       "modified": rendition.last_modified, "length": len(rendition.body)}).encode()
    return _META.pack(len(meta)) + meta + rendition.body


def load(blob: bytes) -> Rendition | None:
    """The rendition in `blob`, or None when it is damaged (a torn or foreign entry)."""
    try:
        (meta_len,) = _META.unpack_from(blob)
        meta = json.loads(blob[_META.size:_META.size + meta_len])
        body = blob[_META.size + meta_len:]
        if len(body) != meta["length"]:
            return None
        return Rendition(body, meta["type"], meta["etag"], float(meta["modified"]))
    except (struct.error, ValueError, KeyError, TypeError):
        return None


class Level(Protocol):
    name: str

    async def open(self) -> None: ...

    async def get(self, digest: str) -> Rendition | None: ...

    async def put(self, digest: str, rendition: Rendition) -> None: ...

    def problems(self) -> list[str]:
        """What keeps the level from working fully now (for /readyz), or []."""
        ...

    async def close(self) -> None: ...


class MemoryLevel:
    """LRU of renditions whose total size stays under `budget` bytes."""

    name = "memory"

    def __init__(self, budget: int, metrics: Metrics) -> None:
        self.budget = budget
        self.metrics = metrics
        self._entries: LRUCache = LRUCache(maxsize=max(budget, 1), getsizeof=_size_of)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def problems(self) -> list[str]:
        return []

    async def get(self, digest: str) -> Rendition | None:
        return self._entries.get(digest)

    async def put(self, digest: str, rendition: Rendition) -> None:
        if _size_of(rendition) > self.budget:
            return
        self._entries[digest] = rendition
        self.metrics.cache_bytes.labels(self.name).set(self._entries.currsize)


def _size_of(rendition: Rendition) -> int:
    return len(rendition.body) + _ENTRY_OVERHEAD


class RenditionCache:
    """The levels in order, fastest first; an empty list is a cache that never hits."""

    def __init__(self, levels: list[Level], metrics: Metrics) -> None:
        self.levels = levels
        self.metrics = metrics
        self._log = LogThrottle(log)  # a level failing on every request: one line a minute, not one per request

    async def open(self) -> None:
        for level in self.levels:
            await level.open()

    async def close(self) -> None:
        for level in self.levels:
            await level.close()

    def problems(self) -> list[str]:
        """The levels' faults (Redis skipped, a read-only or full disk): the service is degraded, not down."""
        return [problem for level in self.levels for problem in level.problems()]

    async def get(self, digest: str) -> tuple[Rendition | None, str | None]:
        """(rendition, name of the level it came from), or (None, None)."""
        for depth, level in enumerate(self.levels):
            with tracing.span(f"cache.{level.name}.get") as lookup:
                found = await self._safely(level.get(digest), level.name, "read")
                lookup.set_attribute("edge.cache.hit", found is not None)
            self.metrics.cache_lookups.labels(level.name, "hit" if found else "miss").inc()
            if found is not None:
                for upper in self.levels[:depth]:
                    await self._safely(upper.put(digest, found), upper.name, "write")
                return found, level.name
        return None, None

    async def put(self, digest: str, rendition: Rendition) -> None:
        for level in self.levels:
            with tracing.span(f"cache.{level.name}.put"):
                await self._safely(level.put(digest, rendition), level.name, "write")

    async def _safely(self, operation: Awaitable[T], level: str, what: str) -> T | None:
        try:
            return await operation
        except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
            self._log.log((level, what), logging.WARNING, "cache level %s failed to %s: %s", level, what, exc)
            return None


class SingleFlight:
    """Concurrent calls with the same key share one execution, its result and its failure."""

    def __init__(self, metrics: Metrics, joins=None) -> None:
        self.joins = joins or metrics.singleflight_joins  # the counter of calls that joined a flight
        self._flights: dict[Hashable, asyncio.Future] = {}

    def joined(self, key: Hashable) -> bool:
        return key in self._flights

    async def run(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """Await the flight for `key`, starting `make()` if none is under way.

        The flight runs to its end even when every caller has gone, so its
        result still lands in the cache.
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(make())
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        else:
            self.joins.inc()
        return await asyncio.shield(flight)

    def _land(self, key: Hashable, flight: asyncio.Future) -> None:
        self._flights.pop(key, None)
        if not flight.cancelled():
            flight.exception()  # retrieved here, so a failure nobody awaited is not logged as lost
