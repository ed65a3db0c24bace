"""A worker process: `python -m edge.worker <fd>`. Runs jobs sent by the server, one at a time.

Each request is `(job name, job)` plus the source bytes; each answer is
`("ok", meta, rss)` plus the body, or `("error", OssError, rss)`. A render
batch sends `("item", ...)` messages before its answer, one per rendition as
it is made (edge.render.render_batch). Anything a job raises becomes an
answer, so a hostile image fails its own request and nothing else. A worker
left idle for as long as it keeps a source's decodes (edge.render.KEEP_SECONDS)
drops them and gives its free heap back to the system. The worker ends when
the server closes the channel.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys

from edge import channel, logs
from edge.errors import InternalError, OssError
from edge.render import KEEP_SECONDS, forget_kept

log = logging.getLogger("edge.worker")
JOBS = {}
_channel: socket.socket | None = None  # the server's end, for the jobs that answer as they go


def _load_jobs() -> None:
    import plugins.operations  # noqa: F401  (registers the operations)
    from edge.probe import probe

    JOBS["render"] = _render  # one job or several of the same source (edge.batches)
    JOBS["probe"] = probe
    JOBS["snapshot"] = _snapshot
    JOBS["upscale"] = _upscale


def _render(batch, data):
    from edge.render import render_batch

    return render_batch(batch, data, _send_item), b""


def _send_item(meta, body: bytes) -> None:
    channel.send_blocking(_channel, meta, body)


# PyAV (~20 MB) and OpenCV with numpy (~30 MB) per worker: imported when such a job first comes.
def _snapshot(job, data):
    from edge.video import snapshot

    return snapshot(job, data)


def _upscale(job, data):
    from edge.upscale.enhance import upscale

    return upscale(job, data)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _give_memory_back() -> None:
    forget_kept()
    # glibc keeps freed image buffers in its heap; an idle worker need not hold them (~45 MB after
    # a srcset burst). Without glibc there is no malloc_trim, and nothing to do.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def serve(sock: socket.socket) -> None:
    """Answer jobs on `sock` until the server closes it."""
    global _channel
    _channel = sock
    channel.send_blocking(sock, ("ready", os.getpid()))
    incoming = select.poll()  # not select(): the channel's descriptor may be above 1023
    incoming.register(sock, select.POLLIN)
    while True:
        if not incoming.poll(KEEP_SECONDS * 1000):  # idle that long: what it kept is of no use
            _give_memory_back()
        message = channel.recv_blocking(sock)
        if message is None:
            return
        (name, job), blob = message
        channel.send_blocking(sock, *answer(lambda: JOBS[name](job, blob or None),
                                            "processing failed; quote the request id"))


def answer(run, failure: str) -> tuple[tuple, bytes]:
    """The answer to a job, whatever `run()` (which returns (meta, body)) does: (("ok", meta, rss),
    body), or (("error", OssError, rss), b"") for what it raised. Anything else it raises is a
    bug, not bad input: logged and answered InternalError(`failure`), and the worker goes on."""
    try:
        meta, body = run()
        return ("ok", meta, _rss_bytes()), body
    except OssError as exc:
        error = exc
    except MemoryError:
        error = InternalError("the worker ran out of memory on this image")
    except Exception:
        log.exception("a job failed: %s", failure)
        error = InternalError(failure)
    return ("error", error, _rss_bytes()), b""


def main() -> None:
    # Ctrl-C reaches the whole process group; the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.setup_from_environment()
    sock = socket.socket(fileno=int(sys.argv[1]))
    _load_jobs()
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass


if __name__ == "__main__":
    main()
