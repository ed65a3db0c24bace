"""Prometheus metrics of one server instance (its own registry, so several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _Children:
    """`labels(...)` answered from a plain dict after the first call with the same values.

    prometheus_client's own labels() checks the count, str()s every value and takes a lock on
    each call; a cache hit makes three such calls, ~3% of its CPU (docs/performance.md).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[tuple, object] = {}

    def labels(self, *values):
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = super().labels(*values)
        return child


class _Counter(_Children, Counter):
    pass


class _Gauge(_Children, Gauge):
    pass


class _Histogram(_Children, Histogram):
    pass


class Metrics:
    """Every metric the server exports, created on a private registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = _Counter("edge_requests_total", "Requests answered, by dialect and HTTP status",
                                 ["dialect", "status"], registry=r)
        self.request_seconds = _Histogram("edge_request_seconds", "Time to answer a request", ["kind"],
                                          buckets=_LATENCY, registry=r)
        self.jobs = _Counter("edge_jobs_total", "Jobs run in the worker pool, by job and outcome", ["job", "outcome"],
                             registry=r)
        self.job_seconds = Histogram("edge_job_seconds", "Time a worker spent on a job", buckets=_LATENCY, registry=r)
        self.renders = Counter("edge_renders_total", "Renditions made by the workers", registry=r)
        self.decodes = Counter("edge_decodes_total", "Source images decoded to make them: fewer than renditions "
                               "when widths of one source share a decode", registry=r)
        self.queue_wait_seconds = Histogram("edge_queue_wait_seconds", "Time a job waited for a free worker",
                                            buckets=_LATENCY, registry=r)
        self.queue_depth = Gauge("edge_queue_depth", "Jobs waiting for a free worker", registry=r)
        self.queue_rejections = Counter("edge_queue_rejections_total", "Jobs refused with 503 because the queue was full",
                                        registry=r)
        self.queue_timeouts = Counter("edge_queue_timeouts_total", "Jobs refused with 503 after waiting "
                                      "server.queue_timeout for a worker", registry=r)
        self.busy_workers = Gauge("edge_busy_workers", "Workers running a job", registry=r)
        self.live_workers = Gauge("edge_live_workers", "Workers started and ready", registry=r)
        self.worker_restarts = _Counter("edge_worker_restarts_total", "Workers replaced, by reason", ["reason"],
                                        registry=r)
        self.cache_lookups = _Counter("edge_cache_lookups_total", "Rendition cache lookups, by level and result",
                                      ["level", "result"], registry=r)
        self.cache_bytes = _Gauge("edge_cache_bytes", "Bytes held by the rendition cache, by level", ["level"],
                                  registry=r)
        self.breaker_state = _Gauge("edge_breaker_state", "Circuit breaker of a shared dependency: 1 open "
                                    "(calls skipped), 0 closed", ["dependency"], registry=r)
        self.breaker_opens = _Counter("edge_breaker_opens_total", "Times a dependency's circuit breaker opened",
                                      ["dependency"], registry=r)
        self.breaker_refused = _Counter("edge_breaker_refused_total", "Calls to a dependency skipped by its "
                                        "breaker, by reason (open, busy, stalled)", ["dependency", "reason"],
                                        registry=r)
        self.disk_cache_state = _Gauge("edge_disk_cache_state", "1 for the disk cache's state: ok, read_only "
                                       "(serving hits, not writing) or full (trimmed, writes paused)", ["state"],
                                       registry=r)
        self.singleflight_joins = Counter("edge_singleflight_joins_total",
                                          "Requests that joined a rendition already being made", registry=r)
        self.fleet_flights = _Counter("edge_fleet_flights_total", "Renditions missed by every cache level with "
                                      "redis_url set, by what the fleet's lease did: made (held it), taken (from "
                                      "Redis, made by another instance), takeover (a holder died), waited_out, "
                                      "local (Redis down)", ["outcome"], registry=r)
        self.source_seconds = Histogram("edge_source_fetch_seconds", "Time to fetch an original for processing",
                                        buckets=_LATENCY, registry=r)
        self.source_errors = _Counter("edge_source_errors_total", "Failed source fetches, by error code", ["code"],
                                      registry=r)
        self.bytes_in = Counter("edge_source_bytes_total", "Bytes of originals fetched for processing", registry=r)
        self.source_reads = _Counter("edge_source_reads_total", "Originals wanted for processing, by how they came: "
                                     "fetched from the source, joined (a fetch of the same original under way) "
                                     "or kept (recently fetched, cache.originals_bytes)", ["how"], registry=r)
        self.bytes_out = Counter("edge_response_bytes_total", "Body bytes of rendition answers", registry=r)
        # The GPU worker (edge.gpu), present only where [gpu] found a GPU.
        self.gpu_jobs = _Counter("edge_gpu_jobs_total", "Renditions sent to the GPU worker, by outcome (ok, error, "
                                 "timeout, crash, retried, unavailable, rejected)", ["outcome"], registry=r)
        self.gpu_batch_size = Histogram("edge_gpu_batch_size", "Renditions per GPU batch",
                                        buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.gpu_seconds = Histogram("edge_gpu_batch_seconds", "Time the GPU worker spent on a batch, its first "
                                     "plan to its last encoded byte", buckets=_LATENCY, registry=r)
        self.gpu_queue_wait_seconds = Histogram("edge_gpu_queue_wait_seconds", "Time a rendition waited for its "
                                                "GPU batch to be sent", buckets=_LATENCY, registry=r)
        self.gpu_worker_up = Gauge("edge_gpu_worker_up", "1 while the GPU worker runs", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
