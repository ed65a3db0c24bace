"""Traces: OpenTelemetry spans of a request, its source fetch, its wait in the queue, its render in a
worker process and its cache lookups, exported with OTLP (HTTP/protobuf) as the standard `OTEL_*`
variables say (docs/observability.md). The extra `edge-origin[otel]` brings the SDK.

Tracing is on when the SDK is installed and the environment asks for traces: an OTLP endpoint
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or
`OTEL_TRACES_EXPORTER=otlp`; `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` keeps it off.
Off, no middleware is installed and `span()` hands back one shared do-nothing context manager,
so a request pays one function call per span site and nothing else.

A worker process starts its own exporter when the first job with a trace context comes
(`carrier()` is sent along with the job; `job_span` continues the trace there).
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import TYPE_CHECKING, Any, Mapping

from edge.config import ConfigError

if TYPE_CHECKING:  # aiohttp is the server's: a worker imports this module without it
    from aiohttp import web

log = logging.getLogger("edge.tracing")
_tracer: Any = None  # an opentelemetry Tracer once started in this process


class _Idle:
    """The span (and context manager) of tracing that is off: every call does nothing."""

    def __enter__(self) -> "_Idle":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def set_attribute(self, name: str, value: Any) -> None:
        return None


_IDLE = _Idle()


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (see the module's docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").lower()
    if exporter == "none":
        return False
    return exporter == "otlp" or any(environ.get(name) for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def span(name: str, **attributes: Any):
    """A span named `name`, child of the current one, as a context manager (it yields the span,
    whose `set_attribute` records facts found inside); does nothing while tracing is off."""
    if _tracer is None:
        return _IDLE
    return _tracer.start_as_current_span(name, attributes=attributes)


def _start() -> Any:
    """Start this process's tracer provider with a batching OTLP exporter; the provider."""
    global _tracer
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create.
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "edge"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = provider.get_tracer("edge")
    trace.set_tracer_provider(provider)
    return provider


def install(app: web.Application) -> None:
    """Trace `app`'s requests when the environment asks for it (the request middleware first, so
    it sees every answer; the exporter as a cleanup context). Raises ConfigError when traces are
    asked for but the SDK is not installed, or over a protocol other than http/protobuf."""
    if not wanted():
        return
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf")
    if protocol != "http/protobuf":
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: edge exports traces over http/protobuf only")
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        raise ConfigError("OTEL_* variables ask for traces, but the OpenTelemetry SDK is not installed: "
                          "pip install 'edge-origin[otel]'") from None
    from aiohttp import web

    app.middlewares.insert(0, web.middleware(_traced))
    app.cleanup_ctx.append(_exporter)


async def _exporter(app: web.Application):
    import asyncio

    provider = _start()
    log.info("exporting traces with OTLP to %s", os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
             or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "the default endpoint")
    try:
        yield
    finally:
        global _tracer
        _tracer = None
        await asyncio.to_thread(provider.shutdown)  # sends what is still batched


async def _traced(request: web.Request, handler):
    """The request's span (a child of the caller's `traceparent`, if any); its trace id is logged."""
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from edge.request_keys import CANONICAL, DIALECT, TRACE_ID  # aiohttp's: not at the top (see above)

    if _tracer is None:  # not started yet, or stopping
        return await handler(request)
    with _tracer.start_as_current_span(
            request.method, context=extract(request.headers), kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.path,
                        "url.query": request.query_string, "user_agent.original": request.headers.get("User-Agent", "")},
    ) as current:
        request[TRACE_ID] = format(current.get_span_context().trace_id, "032x")
        response = await handler(request)
        current.set_attribute("http.response.status_code", response.status)
        current.set_attribute("edge.request_id", response.headers.get("x-oss-request-id", ""))
        for name, fact in (("dialect", DIALECT), ("canonical", CANONICAL)):
            if request.get(fact):
                current.set_attribute(f"edge.{name}", request[fact])
        if "X-Cache" in response.headers:
            current.set_attribute("edge.cache", response.headers["X-Cache"])
        if response.status >= 500:
            current.set_status(Status(StatusCode.ERROR))
        return response


def carrier() -> dict[str, str] | None:
    """The current trace context as W3C headers, to send with a job; None while tracing is off."""
    if _tracer is None:
        return None
    from opentelemetry.propagate import inject

    headers: dict[str, str] = {}
    inject(headers)
    return headers


def job_span(name: str, context: dict[str, str] | None):
    """In a worker: a span for job `name` in the trace `context` came with (a context manager); the
    shared do-nothing one without a context. The worker's exporter starts with the first such job
    and sends what is batched at exit."""
    if not context:
        return _IDLE
    if _tracer is None:
        atexit.register(_start().shutdown)
    from opentelemetry.propagate import extract

    return _tracer.start_as_current_span(f"worker {name}", context=extract(context),
                                         attributes={"edge.job": name, "process.pid": os.getpid()})
