"""A graceful stop: the requests in flight, and how a SIGTERM treats them (edge.serving).

On SIGTERM the server stops accepting connections and starts draining: a new
request on a kept-alive connection is answered 503 with Retry-After and
`Connection: close`; requests already in flight may finish until the deadline
(`server.shutdown_timeout`). Those still running then are cut short and answered
503 with Retry-After, never an empty reply.
"""

from __future__ import annotations

import asyncio


class Draining:
    """The requests in flight (their tasks), and whether the server is stopping."""

    def __init__(self) -> None:
        self.requests: set[asyncio.Task] = set()
        self.stopping = False  # no new request is taken
        self.cut = False       # the deadline passed: requests in flight are being cut short

    async def settle(self, deadline: float) -> None:
        """Wait until no request is in flight, or the event loop's clock reaches `deadline`."""
        loop = asyncio.get_running_loop()
        while self.requests and loop.time() < deadline:
            await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))

    def cut_short(self) -> None:
        """Cancel every request in flight; each answers 503 (edge.app's middleware)."""
        self.cut = True
        for task in self.requests:
            task.cancel()

    def was_cut(self, task: asyncio.Task) -> bool:
        """Whether `task`'s cancellation is ours (cut_short), not the client's; if so, it is undone
        so that the request can still answer."""
        if not self.cut:
            return False
        task.uncancel()
        return True
