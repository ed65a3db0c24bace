"""Answers to requests aiohttp's HTTP parser refuses, before any route or middleware sees them.

aiohttp answers those itself (`RequestHandler.handle_error`): plain text quoting the parser's
exception, `Server: Python/... aiohttp/...`, no request id, and an ERROR traceback in the log
for each. `install(origin)` makes them answers like any other error of ours: an OSS XML body,
`x-oss-request-id`, `Server: edge`, counted in `edge_requests_total`, one log line.

The parser's limits are aiohttp's defaults: a request line or a header field of 8,190 bytes,
128 header fields.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, HttpProcessingError, InvalidURLError, LineTooLong

from edge.answers import error_response, request_id
from edge.errors import (BadRequest, InternalError, NotImplementedOss, OssError, RequestHeaderTooLarge,
                         RequestUriTooLong)
from edge.origin import Origin

log = logging.getLogger("edge.protocol")

# The request-target forms of RFC 9112 3.2: a line too long that starts like one is the request line.
_TARGET = (b"/", b"http://", b"https://", b"*")
# llhttp quotes the bytes it choked on as a Python bytes literal: not for an answer.
_QUOTE = re.compile(r"""\s*b['"].*$""")


def install(origin: Origin) -> None:
    """Answer what the parser refuses as described above, in every server this process starts from
    now on. aiohttp offers no setting for it (`web.run_app` and `AppRunner` make their connection
    handlers themselves), so this swaps the class its `web.Server` makes them from."""
    RequestHandler.origin = origin
    web_server.RequestHandler = RequestHandler


def rejection(exc: BaseException | None, max_headers: int) -> OssError:
    """The OSS error for a request refused with `exc`, an HttpProcessingError of aiohttp's parser:
    414 or 431 over the parser's limits, 501 for a method it does not know, else 400."""
    if isinstance(exc, LineTooLong):
        line, limit = exc.args[0], exc.args[1]
        if (line.encode() if isinstance(line, str) else bytes(line)).startswith(_TARGET):
            return RequestUriTooLong(f"the request line is over {limit} bytes")
        return RequestHeaderTooLarge(f"a header field is over {limit} bytes")
    if isinstance(exc, BadHttpMethod):
        if "HTTPS" in exc.message:
            return BadRequest("this port speaks plain HTTP, not HTTPS")
        return NotImplementedOss("the request method is not one this server knows (it serves GET, HEAD and POST)")
    if isinstance(exc, InvalidURLError):
        return BadRequest("the request target is not a valid URL")
    if isinstance(exc, HttpProcessingError):
        reason = _reason(exc.message)
        if reason.startswith("Too many headers"):
            return RequestHeaderTooLarge(f"the request has more than {max_headers} header fields")
        if reason.startswith("Missing 'Host'"):
            return BadRequest("an HTTP/1.1 request must have a Host header (RFC 9112 3.2)")
        what = "request line" if isinstance(exc, BadStatusLine) else "request"
        return BadRequest(f"the {what} is malformed: {reason}")
    return InternalError("an internal error occurred; quote the request id")


def _reason(message: str) -> str:
    """llhttp's reason for refusing a request ('Invalid character in chunk size'), without the echo
    of the bytes it was reading."""
    lines = [line.strip() for line in message.splitlines() if line.strip() not in ("", "Bad status line:")]
    return _QUOTE.sub("", lines[0] if lines else "").rstrip(":. ") or "bad request"


class RequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering what the parser refuses as edge answers errors."""

    origin: Origin  # set by install()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """The answer to a request the parser refused (or, never expected, a handler failure that
        escaped the error middleware); it closes the connection, which the parser can no longer
        follow."""
        rid = request_id()
        error = rejection(exc, self.max_headers)
        if isinstance(exc, HttpProcessingError):
            log.info("%s: refused by the HTTP parser, %d %s: %s (rid=%s)",
                     request.remote, error.status, error.code, error.message, rid)
        else:
            log.error("request %s failed outside the error middleware", rid, exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was under way already: the connection can only be cut")
        response = error_response(error, rid, self.origin.config.server.host_id)
        response.headers["x-oss-request-id"] = rid
        response.headers["Server"] = "edge"
        response.force_close()
        self.origin.metrics.requests.labels("none", str(error.status)).inc()
        return response
