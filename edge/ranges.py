"""Range requests as RFC 9110 section 14 says: byte ranges of a rendition or an original,
`If-Range`, and several ranges at once.

A `Range` is read only on GET, and only while its `If-Range` (if any) still names the
representation: an entity-tag by strong comparison, a date by exact match with Last-Modified
(13.1.5). Otherwise, or when the ranges do not parse, the answer is the whole body, 200.
Ranges that overlap or touch are merged; one range left is a plain 206, several a
`multipart/byteranges` 206 (renditions) or the whole body (originals, streamed from disk).
Only a range set with no satisfiable range at all is a 416.
"""

from __future__ import annotations

import math
import os
from email.utils import parsedate_to_datetime

from aiohttp import hdrs, web
from multidict import CIMultiDict

from edge.errors import InvalidRange

MOST_RANGES = 16  # more ranges than this in one request are answered with the whole body


def wanted(request: web.BaseRequest, size: int, etag: str, last_modified: float) -> list[tuple[int, int]] | None:
    """The byte ranges (first, last), inclusive, sorted and merged, to answer of a body of `size`
    bytes whose validators are `etag` (quoted) and `last_modified` (epoch seconds); None for the
    whole body. Raises InvalidRange when no range of a valid set is satisfiable."""
    header = request.headers.get(hdrs.RANGE)
    if header is None or request.method != "GET" or not _if_range_holds(request, etag, last_modified):
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    parts = [spec.strip() for spec in specs.split(",") if spec.strip()]
    if len(parts) > MOST_RANGES:
        return None
    ranges = []
    for spec in parts:
        first, dash, last = spec.partition("-")
        digits = all(part.isascii() and part.isdigit() for part in (first, last) if part)  # not '²' or '٣'
        if not dash or not (first or last) or not digits:
            return None  # not a byte-range-spec: the Range header is ignored
        if not first:  # a suffix: the last N bytes
            if int(last) > 0 and size > 0:
                ranges.append((max(size - int(last), 0), size - 1))
            continue
        if last and int(last) < int(first):
            return None
        if int(first) < size:
            ranges.append((int(first), min(int(last), size - 1) if last else size - 1))
    if not ranges:
        raise InvalidRange(f"none of the ranges {header!r} is within the {size} bytes of this object",
                           headers={"Content-Range": f"bytes */{size}"})
    return _merged(ranges)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _if_range_holds(request: web.BaseRequest, etag: str, last_modified: float) -> bool:
    validator = request.headers.get(hdrs.IF_RANGE)
    if validator is None:
        return True
    validator = validator.strip()
    if validator.startswith(('"', "W/")):
        return validator == etag and not etag.startswith("W/")  # strong comparison
    try:
        date = parsedate_to_datetime(validator)
    except (TypeError, ValueError, IndexError):
        return False
    # Last-Modified is sent in whole seconds, rounded up (as aiohttp formats it).
    return date is not None and date.timestamp() == math.ceil(last_modified)


def respond(request: web.BaseRequest, body: bytes, content_type: str, headers: dict[str, str],
            last_modified: float) -> web.Response:
    """The answer with `body`: 200 whole, or 206 with the ranges asked for (see the module doc).
    Raises InvalidRange (416) for an unsatisfiable range set."""
    headers = {**headers, "Accept-Ranges": "bytes"}
    ranges = wanted(request, len(body), headers.get("ETag", ""), last_modified)
    if ranges is None:
        return web.Response(body=body, content_type=content_type, headers=headers)
    size = len(body)
    if len(ranges) == 1:
        first, last = ranges[0]
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return web.Response(status=206, body=body[first:last + 1], content_type=content_type, headers=headers)
    boundary = os.urandom(12).hex()
    parts = []
    for first, last in ranges:
        parts.append(f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {first}-{last}/{size}"
                     f"\r\n\r\n".encode() + body[first:last + 1] + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    return web.Response(status=206, body=b"".join(parts), headers=headers)


def file_etag(st: os.stat_result) -> str:
    """The strong ETag of a file with the status `st`, as aiohttp's FileResponse makes it (its
    modification time in ns and its size, in hex): the file source's validator, and what
    OriginalFile compares `If-Range` with."""
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


class OriginalFile(web.FileResponse):
    """aiohttp's FileResponse (sendfile, conditionals, one range), with `If-Range` compared as
    RFC 9110 says (aiohttp reads an entity-tag as a date it cannot parse, so a changed file's
    bytes were spliced onto the old ones) and several ranges answered with the whole file, not 416."""

    async def _prepare_open_file(self, request, fobj, st, file_encoding):
        if hdrs.RANGE in request.headers:
            try:
                ranges = wanted(request, st.st_size, file_etag(st), st.st_mtime)
            except InvalidRange:
                ranges = []  # aiohttp answers the same 416
            if ranges != []:
                headers = CIMultiDict(request.headers)
                headers.popall(hdrs.RANGE)
                headers.popall(hdrs.IF_RANGE, None)  # decided above
                if ranges is not None and len(ranges) == 1:
                    headers[hdrs.RANGE] = f"bytes={ranges[0][0]}-{ranges[0][1]}"
                request = request.clone(headers=headers)
        return await super()._prepare_open_file(request, fobj, st, file_encoding)
