"""The optional GPU path for JPEG misses ([gpu] in the config, the extra `edge-origin[gpu]`).

`make_gpu(config, metrics)` asks the probe (a subprocess) at start-up; where a
GPU is usable it returns a `Gpu`: the routing of renditions
(edge.gpu.routing, decided by the source's JPEG header and the pipeline) and
the GPU pool (edge.gpu.pool, one worker process holding the GPU context).
Without a GPU it returns None and nothing changes. Nothing here imports the
GPU libraries: only the probe and the worker processes do.
"""

from __future__ import annotations

import asyncio
import logging
import os

from cachetools import LRUCache

from edge.config import Config, ConfigError, GpuConfig
from edge.gpu.routing import HEAD_BYTES, JpegHeader, cpu_reason, read_jpeg_header
from edge.metrics import Metrics
from edge.originals import Originals
from edge.pipeline import Pipeline
from edge.jobs import RenderJob
from edge.sources import Source, SourceObject

log = logging.getLogger("edge.gpu")

# The NVIDIA driver's control device: where it is missing, no CUDA library can find a GPU.
NVIDIA_DEVICE = "/dev/nvidiactl"


class Gpu:
    """Routes renditions to the GPU pool and makes them there; see docs/gpu.md."""

    def __init__(self, settings: GpuConfig, renderer: str, hardware: bool, job_timeout: float, source_bytes: int,
                 metrics: Metrics) -> None:
        from edge.gpu.pool import GpuPool

        self.settings, self.renderer, self.source_bytes = settings, renderer, source_bytes
        self.pool = GpuPool(metrics, renderer, batch=settings.batch, batch_wait=settings.batch_wait_ms / 1000,
                            job_timeout=job_timeout, queue=settings.queue, cpu=settings.device == "cpu",
                            hardware=hardware, lanes=settings.lanes)
        self._headers: LRUCache = LRUCache(maxsize=10_000)

    async def renderer_for(self, bucket: str, source: Source, obj: SourceObject, pipeline: Pipeline,
                           originals: Originals) -> str:
        """The renderer id when the GPU makes this rendition, "" when the CPU does: the routing rule on
        the source's header (read once per source version, through `originals`, so the render that
        follows does not download the original again), and, with fallback "cpu", whether the GPU
        worker is up."""
        if cpu_reason(_ANY_JPEG, pipeline) is not None:
            return ""  # decided by the pipeline alone: no need to read the source
        if not self.pool.up and self.settings.fallback == "cpu":
            return ""
        key = (bucket, obj.key, obj.etag)
        if key not in self._headers:
            self._headers[key] = await self._read_header(originals, bucket, source, obj)
        return "" if cpu_reason(self._headers[key], pipeline) is not None else self.renderer

    async def _read_header(self, originals: Originals, bucket: str, source: Source,
                           obj: SourceObject) -> JpegHeader | None:
        if obj.path:
            head = await asyncio.to_thread(_read_head, obj.path)
        else:
            _, data = await originals.read(bucket, source, obj, self.source_bytes)
            head = (data or b"")[:HEAD_BYTES]
        return read_jpeg_header(head)

    async def render(self, job: RenderJob, data: bytes | None) -> tuple[dict, bytes]:
        """(meta, body) made by the GPU worker; ServiceUnavailable with Retry-After while it is down."""
        return await self.pool.render(job, data)

    async def cleanup_ctx(self, app):
        """aiohttp cleanup context: the GPU worker starts and stops with the application."""
        try:
            await self.pool.start()
        except Exception as exc:  # the probe passed, so this is a fault: 503 (or the CPU) until it starts
            log.error("the GPU worker did not start (%s); trying again in the background", exc)
        try:
            yield
        finally:
            await self.pool.close()


# Stands for "some GPU-eligible JPEG" so that the pipeline half of the rule can be asked alone.
_ANY_JPEG = JpegHeader(4096, 4096, 8, 3, True, "4:2:0")


def _read_head(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def make_gpu(config: Config, metrics: Metrics) -> Gpu | None:
    """The GPU path for `config`, or None. `enabled = "off"`: None without asking; "auto": None
    when the probe finds no usable GPU; "on": ConfigError then, naming the probe's reason."""
    settings = config.gpu
    if settings.enabled == "off":
        return None
    from edge.gpu.probe import Probe, probe

    no_driver = settings.device == "gpu" and not os.path.exists(NVIDIA_DEVICE)
    if no_driver:
        # No driver, no GPU: say so at once, not after the probe's 1-2 s of imports.
        found = Probe(reason=f"this machine has no NVIDIA driver device ({NVIDIA_DEVICE})")
    else:
        found = probe(cpu=settings.device == "cpu")
    if not found.available:
        if settings.enabled == "on":
            raise ConfigError(f'gpu.enabled: "on", but no usable GPU was found ({found.reason}); '
                              'set it to "auto" to run on the CPU workers alone')
        # A machine without a GPU is the common case, not news; a GPU that failed its probe is.
        (log.debug if no_driver else log.info)("no GPU path: %s", found.reason)
        return None
    log.info("GPU path on: %s", found.renderer)
    return Gpu(settings, found.renderer, found.hardware, config.server.job_timeout, config.limits.source_bytes,
               metrics)

