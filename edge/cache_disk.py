"""The disk level of the rendition cache: bounded in bytes, atomic writes, kept across restarts."""

from __future__ import annotations

import asyncio
import collections
import os
from pathlib import Path

from edge.cache import Rendition, dump, load
from edge.metrics import Metrics


class DiskLevel:
    """Renditions as files `<root>/ab/cd/<digest>`, least recently used evicted past `budget` bytes.

    A file is written to a temporary name and renamed into place, so a crash
    leaves either the whole entry or none; leftovers are removed at start,
    and an entry whose length does not match its header is dropped on read.
    File I/O runs in threads, never on the event loop.
    """

    name = "disk"

    def __init__(self, root: str, budget: int, metrics: Metrics) -> None:
        self.root = Path(root)
        self.budget = budget
        self.metrics = metrics
        self._index: collections.OrderedDict[str, int] = collections.OrderedDict()  # digest -> bytes, LRU first
        self.total = 0

    async def open(self) -> None:
        """Index what a previous run left (oldest first), then trim to the budget."""
        entries = await asyncio.to_thread(self._scan)
        for digest, size in entries:
            self._index[digest] = size
            self.total += size
        await self._evict()

    async def close(self) -> None:
        return None

    async def get(self, digest: str) -> Rendition | None:
        if digest not in self._index:
            return None
        try:
            blob = await asyncio.to_thread(self._read, digest)
        except FileNotFoundError:
            self._forget(digest)
            return None
        rendition = load(blob)
        if rendition is None:
            self._forget(digest)
            await asyncio.to_thread(self._unlink, digest)
            return None
        self._index.move_to_end(digest)
        return rendition

    async def put(self, digest: str, rendition: Rendition) -> None:
        blob = dump(rendition)
        if len(blob) > self.budget or digest in self._index:
            return
        await asyncio.to_thread(self._write, digest, blob)
        self._index[digest] = len(blob)
        self.total += len(blob)
        await self._evict()

    async def _evict(self) -> None:
        victims = []
        while self.total > self.budget and self._index:
            digest, size = self._index.popitem(last=False)
            self.total -= size
            victims.append(digest)
        if victims:
            await asyncio.to_thread(lambda: [self._unlink(d) for d in victims])
        self.metrics.cache_bytes.labels(self.name).set(self.total)

    def _forget(self, digest: str) -> None:
        self.total -= self._index.pop(digest, 0)
        self.metrics.cache_bytes.labels(self.name).set(self.total)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def _read(self, digest: str) -> bytes:
        path = self._path(digest)
        blob = path.read_bytes()
        os.utime(path)  # the mtime orders entries by last use across restarts
        return blob

    def _write(self, digest: str, blob: bytes) -> None:
        path = self._path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{digest}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            temporary.write_bytes(blob)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _unlink(self, digest: str) -> None:
        self._path(digest).unlink(missing_ok=True)

    def _scan(self) -> list[tuple[str, int]]:
        self.root.mkdir(parents=True, exist_ok=True)
        found = []
        for path in self.root.glob("*/*/*"):
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write that a crash interrupted
                continue
            stat = path.stat()
            found.append((stat.st_mtime, path.name, stat.st_size))
        return [(name, size) for _, name, size in sorted(found)]
