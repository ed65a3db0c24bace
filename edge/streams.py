"""One capped reader: the bytes of a stream, refused as soon as they pass a limit.

Every body the server reads whole (an upstream original, an upscale download
or upload, a saveas form) is read through `read_capped`, so none can hold more
memory than its limit, however long the sender says it is or keeps sending.
"""

from __future__ import annotations

from typing import AsyncIterable, Awaitable, Callable

CHUNK = 1 << 16


async def read_capped(chunks: AsyncIterable[bytes], limit: int, too_large: Callable[[], Exception]) -> bytes:
    """All of `chunks`; `too_large()` is raised as soon as they hold more than `limit` bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)


async def chunks(read: Callable[[int], Awaitable[bytes]], size: int = CHUNK):
    """The chunks `read(size)` gives until it gives b"" (aiohttp's StreamReader.read, a multipart
    part's read_chunk): what has arrived so far, at most `size` bytes each."""
    while chunk := await read(size):
        yield chunk
