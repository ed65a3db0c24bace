"""Request ids and the OSS XML error answer: what every answer of the server, from a handler or
from the HTTP parser (edge.protocol), is built with."""

from __future__ import annotations

import itertools
import os

from aiohttp import web

from edge.errors import OssError, render_xml

_REQUEST_IDS = itertools.count()
_PROCESS_TAG = os.urandom(6).hex().upper()


def request_id() -> str:
    """24 hex digits like OSS's, unique per process start and request (a counter: os.urandom was a
    few % of a cache hit)."""
    return f"{_PROCESS_TAG}{next(_REQUEST_IDS):012X}"


# Errors that stay true until the object or the URL changes; every other one (403 and 429 that
# depend on who asks and when, a 400 RequestTimeout, 5xx) is no-store.
_LASTING = frozenset({400, 404, 405, 414})


def error_response(error: OssError, rid: str, host_id: str, max_age: int = 0) -> web.Response:
    """The OSS XML answer for `error`; a CDN may keep it `max_age` seconds when it is lasting."""
    lasting = max_age > 0 and error.status in _LASTING and error.code != "RequestTimeout"
    return web.Response(
        status=error.status,
        body=render_xml(error, rid, host_id),
        content_type="application/xml",
        headers={"Cache-Control": f"public, max-age={max_age}" if lasting else "no-store", **error.headers},
    )
