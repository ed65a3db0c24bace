"""A circuit breaker for a shared dependency that may hang or go away (Redis; any other one)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Awaitable, Callable, TypeVar

from edge.log_throttle import LogThrottle
from edge.metrics import Metrics

log = logging.getLogger("edge.breaker")
T = TypeVar("T")


class Refused(Exception):
    """A call the breaker did not make, and why: `reason` is "open" (the dependency is down),
    "busy" (`most` calls in flight: worth another try soon) or "stalled" (the oldest call in flight
    has waited `stall` seconds: the dependency has likely stopped answering)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused: {reason}")
        self.reason = reason


class Breaker:
    """Calls to one dependency, refused at once while it is known to be down or hanging.

    Closed, a call runs with a total deadline of `timeout` seconds. `threshold` failures in a row
    (an error of a type in `faults`, or the deadline) open it: from then on every call is refused
    without touching the dependency, and a background probe (`probe()`, same deadline) runs after
    `backoff` seconds, then after twice as long each time it fails, at most `backoff_cap`; the
    first probe that succeeds closes the breaker.

    Closed, a call is also refused while `most` calls are in flight, or while the oldest of them
    has waited `stall` seconds: a dependency that stopped answering (a stopped process keeps
    its TCP connections open, so calls hang to their deadline) then costs the calls already
    in flight, not every request that arrives before their deadlines open the breaker.

    A refused or failed call returns `default` (`call`): the caller treats it as a miss; or raises
    (`attempt`), Refused saying why, for a caller that acts on the reason. States are
    exported as `edge_breaker_state{dependency}` (1 open), openings and refusals as counters,
    and each change of state is logged once.
    """

    def __init__(self, name: str, probe: Callable[[], Awaitable[object]], faults: tuple[type[BaseException], ...],
                 metrics: Metrics, *, timeout: float = 0.5, threshold: int = 3, backoff: float = 0.5,
                 backoff_cap: float = 8.0, most: int = 16, stall: float = 0.2) -> None:
        self.name, self.probe, self.metrics = name, probe, metrics
        self.faults = faults + (TimeoutError,)
        self.timeout, self.threshold, self.most, self.stall = timeout, threshold, most, stall
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self.failures = 0  # in a row
        self.opened_at: float | None = None  # wall-clock time, for /readyz
        self.last_error = ""
        self._in_flight: dict[object, float] = {}  # a token per call -> its start (monotonic)
        self._prober: asyncio.Task | None = None
        self._log = LogThrottle(log)
        metrics.breaker_state.labels(name).set(0)
        metrics.breaker_opens.labels(name)  # exported as 0 from the start, so a rate() sees the first opening

    @property
    def open(self) -> bool:
        return self.opened_at is not None

    def problem(self) -> str | None:
        """What /readyz says while the breaker is open; None while it is closed."""
        if self.opened_at is None:
            return None
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.opened_at))
        return f"{self.name}: circuit open since {since} ({self.last_error}); calls skipped, probed in the background"

    async def call(self, make: Callable[[], Awaitable[T]], default: T) -> T:
        """`await make()` within the deadline, or `default` when refused or failed with a fault.

        Errors that are not faults (the dependency answered, with an error) propagate.
        """
        try:
            return await self.attempt(make)
        except (Refused, *self.faults):
            return default

    async def attempt(self, make: Callable[[], Awaitable[T]]) -> T:
        """`await make()` within the deadline; raises Refused (saying why) when refused, and the
        fault (one of `faults`, or TimeoutError past the deadline) when it failed with one.

        Errors that are not faults (the dependency answered, with an error) propagate.
        """
        reason = self._refusal()
        if reason is not None:
            self.metrics.breaker_refused.labels(self.name, reason).inc()
            raise Refused(reason)
        token = object()
        self._in_flight[token] = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                result = await make()
        except self.faults as exc:
            self._failed(exc)
            raise
        finally:
            del self._in_flight[token]
        self.failures = 0
        return result

    async def close(self) -> None:
        """Stop the background probe (at shutdown)."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    def _refusal(self) -> str | None:
        if self.opened_at is not None:
            return "open"
        if len(self._in_flight) >= self.most:
            return "busy"
        if self._in_flight and time.monotonic() - min(self._in_flight.values()) > self.stall:
            return "stalled"
        return None

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = _describe(exc)
        if self.opened_at is None and self.failures >= self.threshold:
            self.opened_at = time.time()
            self.metrics.breaker_state.labels(self.name).set(1)
            self.metrics.breaker_opens.labels(self.name).inc()
            self._log.log("state", logging.WARNING, "%s: circuit open after %d failures in a row (%s); "
                          "skipping it, probing every %.1f-%.0f s", self.name, self.failures, self.last_error,
                          self.backoff, self.backoff_cap, state="open")
            self._prober = asyncio.get_running_loop().create_task(self._probe_until_closed())

    async def _probe_until_closed(self) -> None:
        delay = self.backoff
        while True:
            await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.probe()
            except Exception as exc:  # any failure of the probe, a fault or an error answer, keeps it open
                self.last_error = _describe(exc)
                delay = min(delay * 2, self.backoff_cap)
                continue
            break
        down = time.time() - self.opened_at
        self.opened_at, self.failures, self._prober = None, 0, None
        self.metrics.breaker_state.labels(self.name).set(0)
        self._log.log("state", logging.INFO, "%s: circuit closed, answering again after %.1f s",
                      self.name, down, state="closed")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else f"no answer within the deadline ({type(exc).__name__})"
