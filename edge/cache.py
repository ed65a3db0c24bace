"""The rendition cache (in memory, bounded in bytes) and single-flight coalescing of misses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, TypeVar

from cachetools import LRUCache

from edge.metrics import Metrics

T = TypeVar("T")
_ENTRY_OVERHEAD = 256  # bytes of bookkeeping per entry, so tiny renditions still count


@dataclass(frozen=True)
class Rendition:
    """A finished answer body and what its headers need."""

    body: bytes
    content_type: str
    etag: str
    last_modified: float


class MemoryCache:
    """LRU of renditions whose total size stays under `budget` bytes (0 disables it)."""

    def __init__(self, budget: int, metrics: Metrics) -> None:
        self.budget = budget
        self.metrics = metrics
        self._entries: LRUCache = LRUCache(maxsize=max(budget, 1), getsizeof=_size_of)

    def get(self, key: Hashable) -> Rendition | None:
        if not self.budget:
            return None
        found = self._entries.get(key)
        self.metrics.cache_lookups.labels("memory", "hit" if found else "miss").inc()
        return found

    def put(self, key: Hashable, rendition: Rendition) -> None:
        if not self.budget or _size_of(rendition) > self.budget:
            return
        self._entries[key] = rendition
        self.metrics.cache_bytes.labels("memory").set(self._entries.currsize)

    @property
    def bytes(self) -> int:
        return self._entries.currsize if self.budget else 0


def _size_of(rendition: Rendition) -> int:
    return len(rendition.body) + _ENTRY_OVERHEAD


class SingleFlight:
    """Concurrent calls with the same key share one execution, its result and its failure."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
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
            self.metrics.singleflight_joins.inc()
        return await asyncio.shield(flight)

    def _land(self, key: Hashable, flight: asyncio.Future) -> None:
        self._flights.pop(key, None)
        if not flight.cancelled():
            flight.exception()  # retrieved here, so a failure nobody awaited is not logged as lost
