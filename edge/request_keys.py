"""What the middleware, the handlers and the access log note on a request while it is answered,
as typed aiohttp request keys (`request[DIALECT] = "oss"`)."""

from __future__ import annotations

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)  # the answer's x-oss-request-id (edge.answers.request_id)
DIALECT = web.RequestKey("dialect", str)  # the syntax asked in ("oss", "style", "upscale", ...): a metrics label
CANONICAL = web.RequestKey("canonical", str)  # the rendition's canonical process string, for the access log
TRACE_ID = web.RequestKey("trace_id", str)  # the request's trace, when tracing is on (edge.tracing)
ANSWER_STARTED = web.RequestKey("answer_started", bool)  # its headers are sent: nothing else can be said
