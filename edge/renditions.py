"""Renditions: from (bucket, original, pipeline) to cached, encoded bytes made in the pool."""

from __future__ import annotations

import hashlib
import time

from edge.cache import MemoryCache, Rendition, SingleFlight
from edge.config import Limits
from edge.errors import OssError
from edge.metrics import Metrics
from edge.pipeline import Pipeline
from edge.pool import WorkerPool
from edge.render import RenderJob
from edge.sources import Source, SourceObject

# Bump when a code change alters the bytes made for the same URL, so ETags change with them.
RENDER_VERSION = "1"


def rendition_etag(bucket: str, obj: SourceObject, pipeline: Pipeline) -> str:
    """The strong ETag of a rendition: it changes when the source or the process string changes."""
    basis = "\0".join((RENDER_VERSION, bucket, obj.key, obj.etag, pipeline.canonical()))
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:32].upper() + '"'


class Renditions:
    """Looks renditions up in the cache, and makes each missing one once (single-flight)."""

    def __init__(self, pool: WorkerPool, cache: MemoryCache, limits: Limits, metrics: Metrics) -> None:
        self.pool, self.cache, self.limits, self.metrics = pool, cache, limits, metrics
        self.flights = SingleFlight(metrics)

    async def get(self, bucket: str, source: Source, obj: SourceObject,
                  pipeline: Pipeline) -> tuple[Rendition, str]:
        """The rendition and how it was found: "HIT", "MISS", or "COALESCED" (joined a miss under way)."""
        key = (bucket, obj.key, obj.etag, pipeline.canonical())
        found = self.cache.get(key)
        if found is not None:
            return found, "HIT"
        status = "COALESCED" if self.flights.joined(key) else "MISS"
        rendition = await self.flights.run(key, lambda: self._make(key, bucket, source, obj, pipeline))
        return rendition, status

    async def _make(self, key, bucket: str, source: Source, obj: SourceObject, pipeline: Pipeline) -> Rendition:
        started = time.monotonic()
        try:
            fetched, data = await source.read(obj.key, self.limits.source_bytes)
        except OssError as exc:
            self.metrics.source_errors.labels(exc.code).inc()
            raise
        self.metrics.source_seconds.observe(time.monotonic() - started)
        self.metrics.bytes_in.inc(fetched.size)
        meta, body = await self.pool.run("render", RenderJob(pipeline, self.limits, fetched.path), data)
        rendition = Rendition(body, meta["content_type"], rendition_etag(bucket, obj, pipeline), obj.last_modified)
        self.cache.put(key, rendition)
        return rendition
