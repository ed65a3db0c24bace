"""A worker process: `python -m edge.worker <fd>`. Runs jobs sent by the server, one at a time.

Each request is a job (edge.jobs: a class per kind, which the worker runs
with `job.run`) plus the original's bytes; each answer is an `edge.jobs.Answer`
(what it made, or the OssError or JobFailure it raised) plus the body. A render batch
sends messages before its answer (edge.jobs: its order, then one per
rendition as it is made; edge.render.render_batch). The GPU worker
(edge.gpu.worker) is this loop too, with one more job kind. Anything a job raises becomes an answer, so
a hostile image fails its own request and nothing else. A worker
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
from typing import Callable

from edge import channel, logs, tracing
from edge.errors import InternalError, OssError
from edge.batch_messages import BatchItem, BatchOrder
from edge.jobs import Answer, Job, JobFailure, Made
from edge.registry import load_inherited
from edge.render import KEEP_SECONDS, forget_kept

log = logging.getLogger("edge.worker")
_channel: socket.socket | None = None  # the server's end, for the jobs that answer as they go


def _send_item(message: BatchItem | BatchOrder, body: bytes) -> None:
    channel.send_blocking(_channel, message, body)


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


def serve(sock: socket.socket, hello: tuple = ()) -> None:
    """Say `("ready", pid, *hello)` on `sock`, then answer jobs on it until the server closes it."""
    global _channel
    _channel = sock
    channel.send_blocking(sock, ("ready", os.getpid(), *hello))
    incoming = select.poll()  # not select(): the channel's descriptor may be above 1023
    incoming.register(sock, select.POLLIN)
    while True:
        if not incoming.poll(KEEP_SECONDS * 1000):  # idle that long: what it kept is of no use
            _give_memory_back()
        message = channel.recv_blocking(sock)
        if message is None:
            return
        (job, trace), blob = message
        with tracing.job_span(getattr(job, "name", "unknown"), trace):  # a job that is no Job fails in answer()
            channel.send_blocking(sock, *answer(lambda: job.run(blob or None, _send_item),
                                                getattr(job, "failure", Job.failure)))


def answer(run: Callable[[], Made], failure: str) -> tuple[Answer, bytes]:
    """The answer to a job, whatever `run()` does: (Answer(meta=...), body) of what it made, or
    (Answer(error=...), b"") for the OssError or JobFailure it raised. Anything else it raises
    is a bug, not bad input: logged and answered InternalError(`failure`), and the worker goes on."""
    try:
        made = run()
        return Answer(_rss_bytes(), meta=made.meta), made.body
    except (OssError, JobFailure) as exc:
        error = exc
    except MemoryError:
        error = InternalError("the worker ran out of memory on this image")
    except Exception:
        log.exception("a job failed: %s", failure)
        error = InternalError(failure)
    return Answer(_rss_bytes(), error=error), b""


def main() -> None:
    # Ctrl-C reaches the whole process group; the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.setup_from_environment()
    sock = socket.socket(fileno=int(sys.argv[1]))
    load_inherited()  # the server's plugins: the jobs' pipelines hold their operations
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass


if __name__ == "__main__":
    main()
