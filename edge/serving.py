"""Serve an application until SIGTERM or SIGINT, then stop within `server.shutdown_timeout` + 1 s.

The listening socket is bound first, so a busy port is one line and exit code 2
before any worker starts. On a signal: stop accepting at once; let requests in
flight finish until `shutdown_timeout` (a new request on a kept-alive
connection is answered 503 meanwhile); answer those still running 503 with
Retry-After (edge.draining); then close the connections, the workers, the
caches and the sessions.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

from aiohttp import web

from edge.config import ServerConfig
from edge.origin import ORIGIN

log = logging.getLogger("edge")

# Of the second after shutdown_timeout: for the cut-short requests' 503s to be written, and for
# the connections to close (then the workers go: edge.pool.WorkerPool.close).
_ANSWER_SECONDS = 0.3
_CLOSE_SECONDS = 0.2
# After an answer given before the body was read (a refused saveas POST), aiohttp reads and drops
# the rest of the body for this long before closing: its 10 s default let a refused client hold
# the connection; a body already on its way arrives well within 2 s.
_LINGER_SECONDS = 2.0


def bind(server: ServerConfig) -> socket.socket | None:
    """A socket bound to `server.host`:`server.port`, not listening yet (a connection is refused
    until the workers are up and `serve` starts); None, having said why on stderr, when the address
    cannot be had (in use, or not one of this machine's)."""
    sock = socket.socket(_family(server.host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((server.host, server.port))
        return sock
    except OSError as exc:
        sock.close()
        print(f"edge: cannot listen on {server.host}:{server.port}: {exc.strerror or exc}; "
              "choose another with server.host and server.port (or --host, --port)", file=sys.stderr)
        return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def serve(app: web.Application, sock: socket.socket, server: ServerConfig, **runner_options) -> None:
    """Serve `app` on `sock` until SIGTERM or SIGINT, then stop as the module says."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=_CLOSE_SECONDS,
                           lingering_time=_LINGER_SECONDS, **runner_options)
    try:
        await runner.setup()  # a resource that fails to open: those opened before it close below
        site = web.SockSite(runner, sock)
        await site.start()
        await stop.wait()
        deadline = loop.time() + server.shutdown_timeout
        draining = app[ORIGIN].draining
        draining.stopping = True
        await site.stop()  # no new connection
        log.info("stopping: %d requests in flight, %g s to finish them", len(draining.requests),
                 server.shutdown_timeout)
        await draining.settle(deadline)
        if draining.requests:
            log.warning("stopping: %d requests did not finish in time; answering them 503", len(draining.requests))
            draining.cut_short()
            await draining.settle(loop.time() + _ANSWER_SECONDS)
    finally:
        await runner.cleanup()
