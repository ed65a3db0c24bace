"""Access lines, one per answer: text (`AccessLog`) or JSON (`JsonAccessLog`, with
`[server] log_format = "json"`), written through `LINES`, one write per event-loop turn."""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import re
import sys
import time

from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from multidict import istr

from edge.logs import utc_text
from edge.request_keys import CANONICAL, DIALECT, TRACE_ID

_REQUEST_ID, _X_CACHE, _TRACEPARENT = istr("x-oss-request-id"), istr("X-Cache"), istr("traceparent")
# W3C Trace Context: version-traceid-parentid-flags; an all-zero trace or parent id is invalid.
_TRACEPARENT_FORM = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def trace_id(request: web.BaseRequest) -> str:
    """The request's trace id: its span's (edge.tracing) or else the `traceparent` header's; "" when
    neither (a malformed header is ignored, as W3C Trace Context says)."""
    known = request.get(TRACE_ID)
    if known:
        return known
    match = _TRACEPARENT_FORM.match(request.headers.get(_TRACEPARENT, ""))
    if match is None or match[1] == "0" * 32 or match[2] == "0" * 16:
        return ""
    return match[1]


class AccessLog(AbstractAccessLogger):
    """One text line per answer (remote, time, request line, status, bytes, seconds, referer, user
    agent, request id, X-Cache, trace id), laid out as `logging.basicConfig` lays out every other
    line, written to stderr.

    aiohttp's AccessLogger through a logging handler took a third of a logged cache hit's CPU
    (docs/performance.md): a LogRecord, two strftime calls, a format map, and a write plus a
    flush per line. Here the time texts are made once per second, the line is one
    f-string, and the lines of one event-loop turn go out in one write. `server.access_log
    = false`, or the `aiohttp.access` logger set above INFO, still turns it off; that
    logger's handlers are not used.
    """

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        now = time.time()
        stamp, _ = _second_texts(int(now))
        _, started = _second_texts(int(now - seconds))
        headers, version = request.headers, request.version
        trace = f" trace={trace}" if (trace := trace_id(request)) else ""
        LINES.add(
            f'{stamp},{int(now % 1 * 1000):03d} INFO {self.logger.name}: {request.remote or "-"} {started} '
            f'"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}" {response.status} '
            f'{response.body_length} {seconds:06f} "{headers.get(hdrs.REFERER, "-")}" '
            f'"{headers.get(hdrs.USER_AGENT, "-")}" rid={response.headers.get(_REQUEST_ID, "-")} '
            f'cache={response.headers.get(_X_CACHE, "-")}{trace}\n')


class JsonAccessLog(AccessLog):
    """One JSON object per answer: time, request_id, method, path, query, status, bytes (of the body), duration
    (seconds), dialect, cache (the X-Cache level), canonical (the canonical process string),
    trace_id, remote, referer, user_agent. Absent facts are null."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        headers = request.headers
        entry = {
            "time": utc_text(time.time()), "level": "INFO", "logger": self.logger.name,
            "message": f"{request.method} {request.path} {response.status}",
            "request_id": response.headers.get(_REQUEST_ID), "method": request.method, "path": request.path,
            "query": request.query_string or None, "status": response.status, "bytes": _body_bytes(request, response),
            "duration": round(seconds, 6), "dialect": request.get(DIALECT), "cache": response.headers.get(_X_CACHE),
            "canonical": request.get(CANONICAL), "trace_id": trace_id(request) or None,
            "remote": request.remote, "referer": headers.get(hdrs.REFERER), "user_agent": headers.get(hdrs.USER_AGENT),
        }
        LINES.add(json.dumps(entry, ensure_ascii=False) + "\n")


def _body_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """The body's bytes sent (body_length counts the headers too)."""
    if request.method == "HEAD" or response.status in (204, 304):
        return 0
    length = response.content_length
    return length if length is not None else response.body_length


@functools.lru_cache(maxsize=4)
def _second_texts(second: int) -> tuple[str, str]:
    """(logging's asctime without the milliseconds, the access log's %t) for one second, local time."""
    moment = time.localtime(second)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment), time.strftime("[%d/%b/%Y:%H:%M:%S %z]", moment)


class _Lines:
    """Access lines held until the end of the current event-loop turn, then written in one go:
    one write for all the answers finished in that turn, at most a turn late."""

    most = 512  # written at once past this many: bounded memory, even if the loop stopped turning

    def __init__(self) -> None:
        self.pending: list[str] = []

    def add(self, line: str) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(line)
        if len(self.pending) >= self.most:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed or gone: losing log lines must not fail answers
            pass


LINES = _Lines()
atexit.register(LINES.flush)  # lines of a last turn the loop did not get to run
