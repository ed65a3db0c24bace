"""The disk level of the rendition cache: bounded in bytes, atomic writes, kept across restarts."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from edge.cache import Rendition, dump, load
from edge.files import write_atomically
from edge.log_throttle import LogThrottle
from edge.metrics import Metrics

log = logging.getLogger("edge.cache")
_READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
PAUSE_SECONDS = 10.0  # writes skipped after the disk was found read-only or full; then the next write tries again
# A full file system is trimmed of the level's oldest entries until this share of it is free (at
# most _FREE_MOST bytes): room for the other writer and for the next entries.
_FREE_SHARE = 0.05
_FREE_MOST = 256 << 20
_STATES = ("ok", "read_only", "full")


class DiskLevel:
    """Renditions as files `<root>/ab/cd/<digest>`, least recently used evicted past `budget` bytes.

    A file is written to a temporary name and renamed into place, so a crash
    leaves either the whole entry or none; leftovers are removed at start,
    and an entry whose length does not match its header is dropped on read.
    File I/O runs in threads, never on the event loop.

    Faults of the file system degrade the level, never a request. Read-only (EROFS, EACCES,
    EPERM): entries are still served (their access time is not updated) and writes stop for
    PAUSE_SECONDS at a time. Full (ENOSPC, EDQUOT, whoever filled it): the oldest entries are
    removed until statvfs shows 5% of the file system free (at most 256 MiB), and writes stop
    for PAUSE_SECONDS. The first write that succeeds again makes the level "ok". Each change
    of state is logged once and shown by `problems()` and `edge_disk_cache_state`.
    """

    name = "disk"

    def __init__(self, root: str, budget: int, metrics: Metrics) -> None:
        self.root = Path(root)
        self.budget = budget
        self.metrics = metrics
        self._index: collections.OrderedDict[str, int] = collections.OrderedDict()  # digest -> bytes, LRU first
        self.total = 0
        self.state = "ok"
        self._since = 0.0  # wall-clock time the state began
        self._detail = ""  # the error that began it
        self._paused_until = 0.0  # monotonic
        self._log = LogThrottle(log)
        self._show_state()

    async def open(self) -> None:
        """Index what a previous run left (oldest first), then trim to the budget."""
        entries = await asyncio.to_thread(self._scan)
        for digest, size in entries:
            self._index[digest] = size
            self.total += size
        await self._evict()

    async def close(self) -> None:
        return None

    def problems(self) -> list[str]:
        if self.state == "ok":
            return []
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._since))
        if self.state == "read_only":
            return [f"disk cache: read-only since {since} ({self._detail}); serving hits, not writing"]
        return [f"disk cache: full since {since} ({self._detail}); writes paused"]

    async def get(self, digest: str) -> Rendition | None:
        if digest not in self._index:
            return None
        try:
            blob, untouched = await asyncio.to_thread(self._read, digest, self.state != "read_only")
        except FileNotFoundError:
            self._forget(digest)
            return None
        if untouched is not None:
            self._fault(untouched)
        rendition = load(blob)
        if rendition is None:
            self._forget(digest)
            await self._unlink([digest])
            return None
        self._index.move_to_end(digest)
        return rendition

    async def put(self, digest: str, rendition: Rendition) -> None:
        blob = dump(rendition)
        if len(blob) > self.budget or digest in self._index:
            return
        if self.state != "ok" and time.monotonic() < self._paused_until:
            return
        try:
            await asyncio.to_thread(self._write, digest, blob)
        except OSError as exc:
            if exc.errno in _FULL:
                count, freed = await self._trim()
                self._enter("full", f"{exc.strerror}; removed its {count} oldest entries, {freed} bytes")
            else:
                self._fault(exc)
            return
        self._enter("ok")
        self._index[digest] = len(blob)
        self.total += len(blob)
        await self._evict()

    async def _evict(self) -> None:
        await self._drop_oldest(lambda freed: self.total <= self.budget)

    async def _trim(self) -> tuple[int, int]:
        """Make room on a full file system from the level's oldest entries: (entries, bytes) removed."""
        usage = await asyncio.to_thread(shutil.disk_usage, self.root)  # statvfs: counts what others wrote too
        wanted = min(usage.total * _FREE_SHARE, _FREE_MOST)
        return await self._drop_oldest(lambda freed: usage.free + freed >= wanted)

    async def _drop_oldest(self, enough: Callable[[int], bool]) -> tuple[int, int]:
        """Remove least recently used entries until `enough(bytes removed)`: (entries, bytes) removed."""
        victims, freed = [], 0
        while self._index and not enough(freed):
            digest, size = self._index.popitem(last=False)
            self.total -= size
            freed += size
            victims.append(digest)
        await self._unlink(victims)
        self.metrics.cache_bytes.labels(self.name).set(self.total)
        return len(victims), freed

    async def _unlink(self, digests: list[str]) -> None:
        if digests:
            failed = await asyncio.to_thread(self._unlink_all, digests)
            if failed is not None:
                self._fault(failed)

    def _fault(self, exc: OSError) -> None:
        """A change to the disk failed: read-only pauses writes, anything else is logged (rate-limited)."""
        if exc.errno in _READ_ONLY:
            self._enter("read_only", exc.strerror or str(exc))
        else:
            self._log.log("error", logging.WARNING, "disk cache %s: %s", self.root, exc)

    def _enter(self, state: str, detail: str = "") -> None:
        """Be in `state` now; a fault (again) pauses writes, a change is shown and logged once."""
        if state != "ok":
            self._paused_until = time.monotonic() + PAUSE_SECONDS
        if state == self.state == "ok":
            return
        was, self.state, self._detail = self.state, state, detail
        if state != was:
            self._since, lasted = time.time(), time.time() - self._since
            self._show_state()
        if state == "ok":
            self._log.log("state", logging.INFO, "disk cache %s: writable again after %.0f s %s",
                          self.root, lasted, was.replace("_", "-"), state=state)
        else:
            self._log.log("state", logging.WARNING, "disk cache %s: %s (%s); %s, writes paused for %.0f s at a time",
                          self.root, state.replace("_", "-"), detail,
                          "serving its entries" if state == "read_only" else "trimmed", PAUSE_SECONDS, state=state)

    def _show_state(self) -> None:
        for state in _STATES:
            self.metrics.disk_cache_state.labels(state).set(1 if state == self.state else 0)

    def _forget(self, digest: str) -> None:
        self.total -= self._index.pop(digest, 0)
        self.metrics.cache_bytes.labels(self.name).set(self.total)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def _read(self, digest: str, touch: bool) -> tuple[bytes, OSError | None]:
        """The entry's bytes, and the error that kept its mtime from being updated (None if none)."""
        path = self._path(digest)
        blob = path.read_bytes()
        if touch:
            try:
                os.utime(path)  # the mtime orders entries by last use across restarts
            except FileNotFoundError:
                pass  # removed since it was read: the bytes read are whole
            except OSError as exc:  # a read-only disk still serves what it holds
                return blob, exc
        return blob, None

    def _write(self, digest: str, blob: bytes) -> None:
        path = self._path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, blob, suffix=".tmp")  # what a crash leaves, _scan removes

    def _unlink_all(self, digests: list[str]) -> OSError | None:
        """Remove the entries' files; the first error (the others are alike), or None."""
        failed = None
        for digest in digests:
            try:
                self._path(digest).unlink(missing_ok=True)
            except OSError as exc:
                failed = failed or exc
        return failed

    def _scan(self) -> list[tuple[str, int]]:
        self.root.mkdir(parents=True, exist_ok=True)
        found = []
        for path in self.root.glob("*/*/*"):
            if path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):  # on a read-only disk it stays until a later start
                    path.unlink(missing_ok=True)  # a write that a crash interrupted
                continue
            stat = path.stat()
            found.append((stat.st_mtime, path.name, stat.st_size))
        return [(name, size) for _, name, size in sorted(found)]
