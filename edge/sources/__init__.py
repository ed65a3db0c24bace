"""Sources of originals: a local folder (`file://`), an upstream HTTP origin (`http(s)://`) or an
S3-protocol bucket (`s3://`).

A source answers three questions about a key: its validators (`stat`), its
bytes for processing (`read`, size-capped), and the original itself, streamed
with Range and conditional-request support (`serve_original`); and it takes
saveas' writes (`put`). `edge.sources.make.make_source` picks the source for a bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol

from aiohttp import web

from edge.errors import InvalidObjectName, NoSuchKey


@dataclass(frozen=True)
class SourceObject:
    """An original's validators. `etag` is the quoted strong ETag; `last_modified` epoch seconds.

    `path` is set by the file source so that a worker can read the bytes itself.
    """

    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str
    path: str | None = None


def checked_key(key: str) -> str:
    """`key` if an upstream (HTTP or S3) may be asked for it; InvalidObjectName for an empty or
    over-long key, a NUL, or a '.' or '..' segment (an upstream might resolve it)."""
    if not key or "\x00" in key or len(key) > 1023:
        raise InvalidObjectName(f"the object key {key!r} is not a valid key")
    if any(part in (".", "..") for part in key.split("/")):
        raise InvalidObjectName(f"the object key {key!r} has a '.' or '..' segment")
    return key


class Source(Protocol):
    async def stat(self, key: str) -> SourceObject:
        """Validators of `key`; raises NoSuchKey, InvalidObjectName or SourceUnavailable."""

    async def read(self, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        """Validators and bytes of `key` (None when `path` lets a worker read them); ImageTooLarge over `limit`."""

    async def serve_original(self, request: web.Request, key: str) -> web.StreamResponse:
        """The original, unprocessed: streamed, with ETag, Last-Modified, Range and conditionals."""

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` as `key`, atomically (readers see the old object or the whole new one);
        AccessDenied or InvalidObjectName for a key it may not hold, NotImplemented where read-only."""

    async def check(self) -> None:
        """Raise if the source cannot be reached (for /readyz)."""

    def cleanup_ctx(self, app) -> AsyncIterator[None]:
        """aiohttp cleanup context: what the source opens (connections, a client) lives while it runs."""


async def object_exists(source: Source, key: str) -> bool:
    """Whether `source` has an object named `key` (what the dialects' key rule asks: is the whole
    of `photo@!small` a key, or `photo` with the style `small`?)."""
    try:
        await source.stat(key)
    except (NoSuchKey, InvalidObjectName):
        return False
    return True
