"""One atomic writer: a file is the old one or the whole new one, never part of one, after a crash too."""

from __future__ import annotations

import contextlib
import os


def write_atomically(path: str | os.PathLike, data: bytes, suffix: str = ".tmp", hidden: bool = False) -> None:
    """Write `data` to `path` through a temporary file beside it, flushed to the disk, then renamed
    into place. The temporary is `<name>.<pid>.<random><suffix>` (with a leading dot when `hidden`),
    so a sweep can find what a crash left. Raises what the file system raised, the temporary gone."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f"{'.' if hidden else ''}{name}.{os.getpid()}.{os.urandom(4).hex()}{suffix}")
    try:
        with open(temporary, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            os.unlink(temporary)
        raise
