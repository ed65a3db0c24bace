"""Originals fetched for rendering: one download per original.

A page's srcset asks for six widths of one photo at the same moment: six renditions, one
original. Concurrent reads of one original (bucket, key, ETag) share one fetch from its
source, whatever the source, and the bytes of recently fetched originals are kept within a
budget (`cache.originals_bytes`), so the widths asked a little later do not download it again.
Keyed by the ETag the source gave, a replaced original is never served from here: the source
revalidates its validators after `cache.revalidate_seconds`.
"""

from __future__ import annotations

import time

from cachetools import LRUCache

from edge import tracing
from edge.cache import SingleFlight
from edge.errors import ImageTooLarge, OssError
from edge.metrics import Metrics
from edge.sources import Source, SourceObject

_ENTRY_OVERHEAD = 256  # bytes of bookkeeping per entry


class Originals:
    """Reads originals through their sources, once for concurrent callers, kept within `budget` bytes.

    A file source hands a path, not bytes (the worker reads it): nothing of it is kept.
    """

    def __init__(self, budget: int, metrics: Metrics) -> None:
        self.budget, self.metrics = budget, metrics
        self._kept: LRUCache = LRUCache(maxsize=max(budget, 1), getsizeof=lambda held: len(held[1]) + _ENTRY_OVERHEAD)
        self._flights = SingleFlight(metrics, joins=metrics.source_reads.labels("joined"))

    async def read(self, bucket: str, source: Source, obj: SourceObject, limit: int) -> tuple[SourceObject,
                                                                                                 bytes | None]:
        """(validators, bytes or None with a path) of `obj` in `bucket`: ImageTooLarge over `limit`
        bytes, and the source's errors (NoSuchKey, SourceUnavailable...)."""
        held = self._kept.get((bucket, obj.key, obj.etag))
        if held is not None:
            if len(held[1]) > limit:
                raise ImageTooLarge(f"the source object is {len(held[1])} bytes, over the limit of {limit}")
            self.metrics.source_reads.labels("kept").inc()
            return held
        return await self._flights.run((bucket, obj.key, obj.etag, limit),
                                       lambda: self._fetch(bucket, source, obj.key, limit))

    async def _fetch(self, bucket: str, source: Source, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        started = time.monotonic()
        try:
            with tracing.span("source.fetch", **{"edge.bucket": bucket, "edge.key": key}) as fetch:
                fetched, data = await source.read(key, limit)
                fetch.set_attribute("edge.source.bytes", fetched.size)
        except OssError as exc:
            self.metrics.source_errors.labels(exc.code).inc()
            raise
        self.metrics.source_seconds.observe(time.monotonic() - started)
        self.metrics.source_reads.labels("fetched").inc()
        self.metrics.bytes_in.inc(fetched.size)
        if data is not None and len(data) + _ENTRY_OVERHEAD <= self.budget:
            self._kept[(bucket, key, fetched.etag)] = (fetched, data)
        return fetched, data
