"""The wire between the server and a worker: one message = pickled metadata + one raw blob.

Frame: `!IQ` (metadata length, blob length), the pickled metadata, the blob.
The blob (an original's bytes, or an encoded rendition) travels as is, never
inside the pickle, so it is not copied into and out of a pickle stream.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct

_HEADER = struct.Struct("!IQ")


def pack(meta: object, blob: bytes | memoryview = b"") -> tuple[bytes, bytes | memoryview]:
    encoded = pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(encoded), len(blob)) + encoded, blob


async def read_message(reader: asyncio.StreamReader) -> tuple[object, bytes]:
    """Read one message; raises asyncio.IncompleteReadError when the worker is gone."""
    meta_len, blob_len = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    meta = pickle.loads(await reader.readexactly(meta_len))
    blob = await reader.readexactly(blob_len) if blob_len else b""
    return meta, blob


async def write_message(writer: asyncio.StreamWriter, meta: object, blob: bytes = b"") -> None:
    head, body = pack(meta, blob)
    writer.write(head)
    if body:
        writer.write(body)
    await writer.drain()


def send_blocking(sock: socket.socket, meta: object, blob: bytes = b"") -> None:
    head, body = pack(meta, blob)
    sock.sendall(head)
    if body:
        sock.sendall(body)


def recv_blocking(sock: socket.socket) -> tuple[object, bytes] | None:
    """Read one message; None on a clean end of stream (the server closed the channel)."""
    head = _recv_exactly(sock, _HEADER.size)
    if head is None:
        return None
    meta_len, blob_len = _HEADER.unpack(head)
    meta = pickle.loads(_recv_exactly(sock, meta_len) or b"")
    blob = _recv_exactly(sock, blob_len) if blob_len else b""
    if blob is None:
        raise EOFError("channel closed in the middle of a message")
    return meta, blob


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return None
            raise EOFError("channel closed in the middle of a message")
        got += n
    return bytes(buffer)
