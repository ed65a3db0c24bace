"""The capped readers: the bytes of a stream or a file, refused as soon as they pass a limit.

Every body the server reads whole (an upstream original, an upscale download
or upload, a saveas form) is read through `read_capped`, and every file a
worker reads whole (an original, a watermark image) through `read_limited`,
so none can hold more memory than its limit, however long the sender says it
is or keeps sending, or however much a file grows after it was looked at. The
S3 source is the exception: it refuses an object whose Content-Length is over
the limit and reads the body in one call, which aiohttp stops at that length
(half the CPU of a loop of 64 KiB reads; edge.sources.s3).
"""

from __future__ import annotations

import os
from typing import AsyncIterable, Awaitable, Callable

from edge.errors import ImageTooLarge

CHUNK = 1 << 16


async def read_capped(chunks: AsyncIterable[bytes], limit: int, too_large: Callable[[], Exception]) -> bytes:
    """All of `chunks`; `too_large()` is raised as soon as they hold more than `limit` bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)


def read_limited(path: str, limit: int) -> bytes:
    """The bytes of the file at `path`; ImageTooLarge when there are more than `limit`."""
    with open(path, "rb", buffering=0) as fh:
        # A buffer of the file's size, not of the limit: allocating 20 MB for a 4 MB photo cost
        # ~1 ms a render.
        size = os.fstat(fh.fileno()).st_size
        raw = fh.read(min(size, limit) + 1)
        if len(raw) > size:  # it grew since: the rest, up to the limit
            raw += fh.read(limit + 1 - len(raw))
    if len(raw) > limit:
        raise ImageTooLarge(f"the source object is larger than {limit} bytes")
    return raw


async def chunks(read: Callable[[int], Awaitable[bytes]], size: int = CHUNK):
    """The chunks `read(size)` gives until it gives b"" (aiohttp's StreamReader.read, a multipart
    part's read_chunk): what has arrived so far, at most `size` bytes each."""
    while chunk := await read(size):
        yield chunk
