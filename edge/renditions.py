"""Renditions: from (bucket, original, pipeline) to cached, encoded bytes made in the pool."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cachetools import LRUCache, TTLCache

from edge.batches import SourceBatches
from edge.cache import Rendition, RenditionCache, SingleFlight
from edge.config import Limits
from edge.errors import InvalidObjectName, NoSuchKey, OssError, ProcessTimeout, WatermarkError
from edge.jobs import ProbeJob, RenderJob, SnapshotJob
from edge.metrics import Metrics
from edge.originals import Originals
from edge.pipeline import Pipeline
from edge.pool import WorkerPool
from edge.sources import Source, SourceObject

# Bump when a code change alters the bytes made for the same URL, so ETags change with them.
RENDER_VERSION = "7"  # 2: ICC to sRGB, no metadata; 3: optimised JPEG Huffman tables; 4: PNG RLE for photos,
# RGB GIF frames; 5: HEIC with x265's "medium" preset; 6: HEIC/AVIF/WebP quality calibrated on JPEG's;
# 7: drawn GIFs and PNGs as lossless WebP in their GIF rendition's palette, transparent GIF frames cleared,
# HEIC with aq-mode 3 and finer chroma, finer again for a JPEG re-encoded at its own scale
# A 4xx from a job (a corrupt source, a result over the limits) is the same every time until
# the source changes, which changes the digest: remember it briefly instead of decoding again.
# So is a job timeout: the same URL would hold a worker for the whole job timeout again.
FAILURE_SECONDS = 30


def lasting(failure: OssError) -> bool:
    """Whether a job's failure is remembered for FAILURE_SECONDS (and shared by the fleet)."""
    return 400 <= failure.status < 500 or isinstance(failure, ProcessTimeout)


def rendition_digest(bucket: str, obj: SourceObject, pipeline: Pipeline,
                     inputs: tuple[SourceObject, ...] = (), renderer: str = "", effort: str = "fast") -> str:
    """What a rendition is stored under: a hash of the render version, the bucket, the key, the
    source's validator, the canonical process string and the validators of the other objects it
    reads (watermark images), the GPU renderer's id (edge.gpu) when the GPU makes it, and the
    encoders' effort ([compression] effort) when it is not the default. A changed source,
    watermark, process, render version, GPU renderer or effort never finds an old entry."""
    parts = [RENDER_VERSION, bucket, obj.key, obj.etag, pipeline.canonical()]
    for other in inputs:
        parts += [other.key, other.etag]
    if renderer:
        parts.append(renderer)
    if effort != "fast":
        parts.append(f"effort={effort}")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def rendition_etag(digest: str) -> str:
    """The strong ETag of the rendition stored under `digest`: known before any work is done."""
    return '"' + digest[:32].upper() + '"'


@dataclass(frozen=True)
class Wanted:
    """A rendition asked for: what it is made from, and the digest it is (or will be) stored under."""

    bucket: str
    source: Source
    obj: SourceObject
    pipeline: Pipeline
    inputs: tuple[SourceObject, ...]
    digest: str
    renderer: str = ""  # the GPU renderer's id when the GPU makes it (edge.gpu), "" for the CPU workers

    @property
    def etag(self) -> str:
        return rendition_etag(self.digest)


class Renditions:
    """Looks renditions up in the cache, and makes each missing one once (single-flight)."""

    def __init__(self, pool: WorkerPool, cache: RenditionCache, limits: Limits, metrics: Metrics,
                 originals: Originals, effort: str = "fast") -> None:
        self.pool, self.cache, self.limits, self.metrics = pool, cache, limits, metrics
        self.effort = effort  # [compression] effort: the encoders' settings, part of every rendition's key
        self.originals = originals
        self.flights = SingleFlight(metrics)
        self.batches = SourceBatches(pool)
        self.gpu = None  # edge.gpu.Gpu, set by edge.app where [gpu] found a usable GPU
        self.fleet = None  # edge.lease.FleetFlight, set by edge.app where cache.redis_url is set
        self._failures: TTLCache = TTLCache(maxsize=10_000, ttl=FAILURE_SECONDS)
        self._probes: LRUCache = LRUCache(maxsize=10_000)

    async def probe(self, bucket: str, source: Source, obj: SourceObject) -> dict:
        """{"format", "width", "height", "frames"} of an original, read from its header in a worker."""
        key = (bucket, obj.key, obj.etag)
        if key not in self._probes:
            fetched, data = await self.originals.read(bucket, source, obj, self.limits.source_bytes)
            meta = (await self.pool.run(ProbeJob(self.limits, fetched.path), data)).meta
            self._probes[key] = meta
        return self._probes[key]

    async def want(self, bucket: str, source: Source, obj: SourceObject, pipeline: Pipeline) -> Wanted:
        """The rendition of `obj` by `pipeline`, with the validators of the watermark images it reads
        (WatermarkError naming a key the bucket does not hold)."""
        inputs = []
        for key in pipeline.inputs():
            try:
                inputs.append(await source.stat(key))
            except (NoSuchKey, InvalidObjectName):
                raise _missing_watermark(key) from None
        inputs = tuple(inputs)
        renderer = await self.gpu.renderer_for(bucket, source, obj, pipeline, self.originals) if self.gpu else ""
        digest = rendition_digest(bucket, obj, pipeline, inputs, renderer, self.effort)
        return Wanted(bucket, source, obj, pipeline, inputs, digest, renderer)

    async def get(self, wanted: Wanted) -> tuple[Rendition, str]:
        """The rendition and how it was found: "HIT" (memory), "HIT-DISK", "HIT-REDIS", "MISS" (made
        now) or "COALESCED" (joined the same rendition being made for another request)."""
        digest = wanted.digest
        if digest in self._failures:
            raise self._failures[digest]
        found, level = await self.cache.get(digest)
        if found is not None:
            return found, "HIT" if level == "memory" else f"HIT-{level.upper()}"
        status = "COALESCED" if self.flights.joined(digest) else "MISS"

        async def make() -> Rendition:
            if self.fleet is None:
                return await self._make(wanted)
            return await self.fleet.run(digest, lambda: self._make(wanted))

        try:
            rendition = await self.flights.run(digest, make)
        except OssError as exc:  # failed here (_make remembered it already) or on the fleet's holder
            if lasting(exc):
                self._failures[digest] = exc
            raise
        return rendition, status

    async def _make(self, wanted: Wanted) -> Rendition:
        pipeline, source = wanted.pipeline, wanted.source
        video = pipeline.medium == "video"
        fetched, data = await self.originals.read(wanted.bucket, source, wanted.obj,
                                                  self.limits.video_bytes if video else self.limits.source_bytes)
        inputs = tuple([(other.key, await self._input(wanted, other)) for other in wanted.inputs])
        job = RenderJob(pipeline, self.limits, fetched.path, inputs, (wanted.bucket, fetched.key, fetched.etag),
                        self.effort)
        try:
            if video:
                made = await self.pool.run(SnapshotJob(pipeline, self.limits, fetched.path), data)
                meta, body = made.meta, made.body
            elif wanted.renderer:
                meta, body = await self.gpu.render(job, data)
            else:
                meta, body = await self.batches.render(job, data)
        except OssError as exc:
            if lasting(exc):
                self._failures[wanted.digest] = exc
            raise
        rendition = Rendition(body, meta["content_type"], wanted.etag, wanted.obj.last_modified)
        await self.cache.put(wanted.digest, rendition)
        return rendition

    async def _input(self, wanted: Wanted, other: SourceObject) -> str | bytes:
        """A watermark image for the job: its path (file source) or its bytes (edge.originals keeps them,
        so a logo used on every rendition is fetched once while its ETag holds)."""
        try:
            held, data = await self.originals.read(wanted.bucket, wanted.source, other, self.limits.source_bytes)
        except (NoSuchKey, InvalidObjectName):  # deleted since want()
            raise _missing_watermark(other.key) from None
        return held.path if data is None else data


def _missing_watermark(key: str) -> WatermarkError:
    return WatermarkError(f"watermark: the image object {key!r} does not exist in this bucket")
