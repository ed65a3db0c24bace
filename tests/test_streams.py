"""edge.streams: the one capped reader of bodies read whole."""

import asyncio

import pytest

from edge.streams import chunks, read_capped


class TooLarge(Exception):
    pass


async def pieces(*parts: bytes):
    for part in parts:
        yield part


async def test_a_body_within_the_limit_is_read_whole():
    assert await read_capped(pieces(b"ab", b"cd"), 4, TooLarge) == b"abcd"


async def test_a_body_past_the_limit_is_refused_without_reading_the_rest():
    read = []

    async def endless():
        while True:
            read.append(1)
            yield b"x" * 10

    with pytest.raises(TooLarge):
        await read_capped(endless(), 25, TooLarge)
    assert len(read) == 3


async def test_chunks_reads_until_the_end_of_a_stream():
    reader = asyncio.StreamReader()
    reader.feed_data(b"hello ")
    reader.feed_data(b"world")
    reader.feed_eof()
    assert await read_capped(chunks(reader.read, 4), 100, TooLarge) == b"hello world"
