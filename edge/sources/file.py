"""Originals from a local folder. A key can never name anything outside the folder."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import re
import stat as stat_module
import time
from typing import AsyncIterator

from aiohttp import web

from edge import files
from edge.errors import AccessDenied, ImageTooLarge, InvalidObjectName, NoSuchKey, SourceUnavailable
from edge.ranges import OriginalFile, file_etag
from edge.sources import SourceObject

_FOLDER_SECONDS = 1.0
_FOLDERS_KEPT = 4096
# A save writes `.<name>.<pid>.<random>.saving` first. Such names are never objects; one left by a
# killed server is removed by the first save into its folder once it is this old.
_TEMPORARY = re.compile(r"\..+\.\d+\.[0-9a-f]{8}\.saving")
STALE_TEMPORARY_SECONDS = 3600.0
_swept: set[str] = set()


class FileSource:
    """Keys are relative paths below `root`. `..`, `.`, empty segments, NUL and backslashes are
    refused as InvalidObjectName; a symlink that resolves outside `root` is NoSuchKey."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._folders: dict[tuple[str, ...], tuple[str, float]] = {}  # parts -> (real path, until)

    def _resolve(self, key: str) -> tuple[str, os.stat_result]:
        """The real path of `key` inside the folder and its stat; raises InvalidObjectName, or
        OSError (FileNotFoundError...) from the file system, or NoSuchKey outside the folder."""
        parts = _segments(key)
        path = os.path.join(self._folder(tuple(parts[:-1]), key), parts[-1])
        st = os.lstat(path)
        if stat_module.S_ISLNK(st.st_mode):
            path = os.path.realpath(path)
            if not self._within(path):
                raise NoSuchKey(f"the object {key} does not exist")
            st = os.stat(path)
        return path, st

    def _folder(self, parts: tuple[str, ...], key: str) -> str:
        """The real path of a folder of keys. realpath costs a syscall per path component, so it
        is reused for _FOLDER_SECONDS (a folder swapped for a symlink is seen after that)."""
        now = time.monotonic()
        known = self._folders.get(parts)
        if known is not None and known[1] > now:
            return known[0]
        real = os.path.realpath(os.path.join(self.root, *parts))
        if not self._within(real):
            raise NoSuchKey(f"the object {key} does not exist")
        if len(self._folders) >= _FOLDERS_KEPT:
            self._folders.clear()
        self._folders[parts] = (real, now + _FOLDER_SECONDS)
        return real

    def _within(self, real: str) -> bool:
        """Whether the resolved path `real` is our folder or below it."""
        return real == self.root or real.startswith(self.root + os.sep)

    def path_for_writing(self, key: str) -> str:
        """Where a new object `key` goes: its folder must resolve inside ours (AccessDenied otherwise),
        resolved afresh, never from the folders kept for reading. A symlink at the final name is
        replaced, never followed."""
        parts = _segments(key)
        folder = os.path.realpath(os.path.join(self.root, *parts[:-1]))
        if not self._within(folder):
            raise AccessDenied(f"the object key {key!r} leads outside the bucket")
        return os.path.join(folder, parts[-1])

    async def stat(self, key: str) -> SourceObject:
        try:
            path, st = self._resolve(key)
        except (FileNotFoundError, NotADirectoryError):
            raise NoSuchKey(f"the object {key} does not exist") from None
        except OSError as exc:
            raise SourceUnavailable(f"cannot read the object {key}: {exc.strerror}") from None
        if not stat_module.S_ISREG(st.st_mode):
            raise NoSuchKey(f"the object {key} does not exist")
        return SourceObject(
            key=key,
            size=st.st_size,
            etag=file_etag(st),
            last_modified=st.st_mtime,
            content_type=mimetypes.guess_type(key)[0] or "application/octet-stream",
            path=path,
        )

    async def read(self, key: str, limit: int) -> tuple[SourceObject, bytes | None]:
        obj = await self.stat(key)
        if obj.size > limit:
            raise ImageTooLarge(f"the source object is {obj.size} bytes, over the limit of {limit}")
        return obj, None  # the worker reads obj.path itself: no copy through this process

    async def serve_original(self, request: web.Request, key: str) -> web.StreamResponse:
        obj = await self.stat(key)
        # FileResponse brings sendfile, Range (206/416), If-None-Match, If-Modified-Since and HEAD;
        # OriginalFile reads If-Range and several ranges as RFC 9110 says (edge.ranges).
        return OriginalFile(obj.path, headers={"Content-Type": obj.content_type})

    async def check(self) -> None:
        if not os.path.isdir(self.root):
            raise SourceUnavailable(f"the source folder {self.root} does not exist")

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        await asyncio.to_thread(write_atomically, self.path_for_writing(key), body)

    async def cleanup_ctx(self, app) -> AsyncIterator[None]:
        yield


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, nothing between
    (edge.files), its folder made and swept of what crashed saves left first."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    _sweep(folder)
    files.write_atomically(path, data, suffix=".saving", hidden=True)


def _sweep(folder: str) -> None:
    """Once per folder and process: remove the stale temporaries of saves that never finished
    (a server killed mid-write). A younger one may be another server's save in progress."""
    if folder in _swept:
        return
    if len(_swept) >= _FOLDERS_KEPT:
        _swept.clear()
    _swept.add(folder)
    stale = time.time() - STALE_TEMPORARY_SECONDS
    with contextlib.suppress(OSError), os.scandir(folder) as entries:  # tidying never fails a save
        for entry in entries:
            if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                    and entry.stat(follow_symlinks=False).st_mtime < stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _segments(key: str) -> list[str]:
    if not key or "\x00" in key or "\\" in key or len(key) > 1023:
        raise InvalidObjectName(f"the object key {key!r} is not a valid key")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidObjectName(f"the object key {key!r} has an empty, '.' or '..' segment")
    if _TEMPORARY.fullmatch(parts[-1]):
        raise InvalidObjectName(f"the object key {key!r} names the temporary file of a save")
    return parts
