"""Sources of originals: a local folder (`file://`) or an upstream HTTP origin (`http(s)://`).

A source answers three questions about a key: its validators (`stat`), its
bytes for processing (`read`, size-capped), and the original itself, streamed
with Range and conditional-request support (`serve_original`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from edge.config import ConfigError


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


class Source(Protocol):
    async def stat(self, key: str) -> SourceObject:
        """Validators of `key`; raises NoSuchKey, InvalidObjectName or SourceUnavailable."""

    async def read(self, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        """Validators and bytes of `key` (None when `path` lets a worker read them); ImageTooLarge over `limit`."""

    async def serve_original(self, request: web.Request, key: str) -> web.StreamResponse:
        """The original, unprocessed: streamed, with ETag, Last-Modified, Range and conditionals."""

    async def check(self) -> None:
        """Raise if the source cannot be reached (for /readyz)."""

    async def close(self) -> None:
        """Release connections."""


def make_source(url: str, limits, session_holder, revalidate_seconds: float) -> Source:
    """The source for a bucket's `source` URL (`file:///dir` or `http(s)://host/prefix`); raises
    ConfigError naming the folder when a `file://` folder does not exist.

    `session_holder.session` is the server's one pooled aiohttp client session.
    """
    if url.startswith("file://"):
        from edge.sources.file import FileSource

        folder = url[len("file://"):]
        if not os.path.isdir(folder):  # at start-up: serving only 404s, silently, helps nobody
            raise ConfigError(f"source {url}: the folder {folder} does not exist; make it, or point "
                              f"the bucket's source at the folder of your images")
        return FileSource(folder)
    from edge.sources.http import HttpSource

    return HttpSource(url, limits, session_holder, revalidate_seconds)
