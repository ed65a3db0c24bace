"""The aiohttp application: resources, middleware and routes. `make_app(config)` builds it."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web

from edge import dialects, fonts, libwebp, objects, protocol, registry, tracing, transcode, upscale
from edge.answers import error_response, request_id
from edge.cache import MemoryLevel, RenditionCache
from edge.cache_disk import DiskLevel
from edge.config import Config, ConfigError
from edge.draining import Draining
from edge.errors import (BadRequest, ClientClosedRequest, InternalError, MethodNotAllowed, NoSuchKey, OssError,
                         ServiceUnavailable)
from edge.gpu import make_gpu
from edge.metrics import Metrics
from edge.origin import ORIGIN, Origin
from edge.originals import Originals
from edge.pool import WorkerPool
from edge.renditions import Renditions
from edge.request_keys import ANSWER_STARTED, DIALECT, REQUEST_ID
from edge.sources.http import UpstreamSession
from edge.sources.make import make_source

log = logging.getLogger("edge")


def make_app(config: Config) -> web.Application:
    """The application for `config`; workers and client sessions start with it and stop with it.

    Raises ConfigError when a bucket's style does not parse, so a typo stops start-up, when
    `[gpu] enabled = "on"` finds no usable GPU, and when `[compression] effort = "small"` finds no
    libwebp to ask for sharp RGB->YUV.
    """
    registry.load(config.server.plugins)
    dialects.check_buckets(config)
    if config.compression.effort == "small" and not libwebp.available():
        raise ConfigError('compression.effort: "small" writes WebP through libwebp (Pillow\'s pillow.libs or the '
                          'system\'s libwebp), and none was found; use "fast" or install libwebp')
    app = web.Application(middlewares=[_answer_errors], client_max_size=1 << 20)
    tracing.install(app)  # first: its exporter starts before the other resources and stops after them
    metrics = Metrics()
    gpu = make_gpu(config, metrics)  # the start-up probe (a subprocess); None without a GPU
    server = config.server
    pool = WorkerPool(
        size=server.worker_count, queue=server.queue, job_timeout=server.job_timeout, metrics=metrics,
        queue_timeout=server.queue_timeout,
        max_jobs=server.worker_max_jobs, max_rss=server.worker_max_rss_mb << 20)
    session = UpstreamSession()
    origin = Origin(
        config=config,
        metrics=metrics,
        pool=pool,
        renditions=Renditions(pool, _cache(config, metrics), config.limits, metrics,
                              Originals(config.cache.originals_bytes, metrics), config.compression.effort),
        sources={name: make_source(bucket, config.limits, session, config.cache.revalidate_seconds)
                 for name, bucket in config.buckets.items()},
        session=session,
    )
    origin.renditions.gpu = gpu
    origin.renditions.fleet = _fleet(config, origin.renditions.cache, metrics)
    app[ORIGIN] = origin
    protocol.install(origin)
    # One cleanup context per resource, opened in this order and closed in the reverse: when one
    # fails to open, those before it are closed.
    app.cleanup_ctx.extend([session.cleanup_ctx, _rendition_cache, _worker_pool])
    app.cleanup_ctx.extend(source.cleanup_ctx for source in origin.sources.values())
    app.on_response_prepare.append(_mark_answer_started)
    if gpu is not None:
        app.cleanup_ctx.append(gpu.cleanup_ctx)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    transcode.add_routes(app)
    if config.console.enabled:
        from edge import console

        console.add_routes(app)
    upscale.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", objects.handle)
    return app


def _cache(config: Config, metrics: Metrics) -> RenditionCache:
    """The cache levels the config turns on, fastest first."""
    settings = config.cache
    levels = []
    if settings.memory_bytes:
        levels.append(MemoryLevel(settings.memory_bytes, metrics))
    if settings.disk_path:
        levels.append(DiskLevel(settings.disk_path, settings.disk_bytes, metrics))
    if settings.redis_url:
        from edge.cache_redis import RedisLevel  # redis-py costs ~17 MB: only when configured

        levels.append(RedisLevel(settings.redis_url, settings.redis_ttl_seconds, metrics))
    if settings.store:
        from edge.cache_store import StoreLevel  # aiobotocore and a client cost ~25 MB: only when configured

        levels.append(StoreLevel(settings.store, settings.s3, config.limits, metrics))
    return RenditionCache(levels, metrics)


def _fleet(config: Config, cache: RenditionCache, metrics: Metrics):
    """The fleet-wide single-flight (edge.lease) over the Redis level, or None without one."""
    redis = next((level for level in cache.levels if level.name == "redis"), None)
    if redis is None:
        return None
    from edge.lease import FleetFlight

    return FleetFlight(redis, cache, config.cache.lease_seconds, config.cache.lease_wait_seconds, metrics)


async def _rendition_cache(app: web.Application):
    cache = app[ORIGIN].renditions.cache
    await cache.open()
    yield
    await cache.close()


async def _worker_pool(app: web.Application):
    """The workers; a start that fails halfway stops the ones that did start."""
    pool = app[ORIGIN].pool
    try:
        await pool.start()
    except BaseException:
        await pool.close()
        raise
    yield
    await pool.close()


@web.middleware
async def _answer_errors(request: web.Request, handler):
    """Give every answer an `x-oss-request-id`, and every failure the OSS XML error body."""
    origin = request.app[ORIGIN]
    request[REQUEST_ID] = rid = request_id()
    started = time.monotonic()
    try:
        response = await _in_flight(request, handler, origin.draining)
    except OssError as exc:
        response = error_response(exc, rid, origin.config.server.host_id, _error_max_age(request))
    except web.HTTPException as exc:
        response = error_response(_from_http(exc), rid, origin.config.server.host_id, _error_max_age(request))
    except Exception as exc:
        if isinstance(exc, ConnectionError) and request.transport is None:
            # The client hung up (in the middle of its body, say): nothing of ours failed.
            response = error_response(ClientClosedRequest("the client closed the connection"), rid,
                                      origin.config.server.host_id)
        else:
            log.exception("request %s failed", rid)
            response = error_response(InternalError("an internal error occurred; quote the request id"), rid,
                                      origin.config.server.host_id)
    response.headers["x-oss-request-id"] = rid
    response.headers["Server"] = "edge"  # not aiohttp's default, which names the Python and aiohttp versions
    dialect = request.get(DIALECT, "none")
    origin.metrics.requests.labels(dialect, str(response.status)).inc()
    kind = {"original": "original", "none": "other", "upscale": "upscale"}.get(dialect, "rendition")
    origin.metrics.request_seconds.labels(kind).observe(time.monotonic() - started)
    return response


async def _in_flight(request: web.Request, handler, draining: Draining) -> web.StreamResponse:
    """The handler's answer, counted as in flight; while the server is stopping, a 503 that closes
    the connection; cut short at the stop's deadline, a 503 too (edge.draining)."""
    if draining.stopping:
        raise ServiceUnavailable("the server is shutting down; retry shortly", headers={"Connection": "close"})
    task = asyncio.current_task()
    draining.requests.add(task)
    try:
        return await handler(request)
    except asyncio.CancelledError:
        if request.get(ANSWER_STARTED) or not draining.was_cut(task):
            raise  # the client went away, or the answer is half sent: nothing else can be said
        raise ServiceUnavailable("the server is shutting down and could not finish this request in time; "
                                 "retry shortly", headers={"Connection": "close"}) from None
    finally:
        draining.requests.discard(task)


async def _mark_answer_started(request: web.Request, response: web.StreamResponse) -> None:
    request[ANSWER_STARTED] = True


def _error_max_age(request: web.Request) -> int:
    """How long a CDN may keep this request's lasting errors (error_response). A
    shared cache may keep the answer to a request with Authorization when told "public" (RFC 9111
    3.5), and the errors of header-signed requests are not for others: 0 for those."""
    return 0 if "Authorization" in request.headers else request.app[ORIGIN].config.cache.error_max_age


def _from_http(exc: web.HTTPException) -> OssError:
    if exc.status == 404:
        return NoSuchKey("no such resource")
    if exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ("GET", "HEAD")))
        return MethodNotAllowed("the method is not allowed on this resource", headers={"Allow": allowed})
    return BadRequest(exc.reason or "bad request")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    origin = request.app[ORIGIN]
    problems = [] if origin.pool.ready else ["no worker is running"]
    for name, source in origin.sources.items():
        try:
            await source.check()
        except OssError as exc:
            problems.append(f"bucket {name}: {exc.message}")
    # A faulty cache level (Redis skipped by its breaker, a read-only or full disk) costs misses,
    # not answers: the instance stays in rotation, "degraded", with the faults listed.
    degraded = origin.renditions.cache.problems()
    body = {"status": "not ready" if problems else "degraded" if degraded else "ready",
            "problems": problems + degraded, "workers": len(origin.pool.pids()),
            # Not fatal, so readiness stays 200: a missing font fails only text watermarks in it.
            "warnings": fonts.problems()}
    return web.Response(status=503 if problems else 200, text=json.dumps(body), content_type="application/json")


async def _metrics(request: web.Request) -> web.Response:
    origin = request.app[ORIGIN]
    return web.Response(body=origin.metrics.render(), headers={"Content-Type": origin.metrics.content_type})
