"""Rate-limited logging for faults that repeat on every request (a hung Redis, a full disk)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Hashable


@dataclass
class _Key:
    state: Hashable = None
    logged_at: float = float("-inf")
    suppressed: int = 0


class LogThrottle:
    """Writes at most one line per key per `interval` seconds, and always one on a change of state.

    `log(key, level, msg, *args)` writes the line if nothing was written for `key` in the last
    `interval` seconds; otherwise it only counts it, and the next line written for that key in
    the same state ends with "(N more like this in S s)". Passing `state=` (any hashable: "open", "read-only") writes
    the line whenever the state differs from the last one given for `key`, however recent the
    last line: every transition shows once, repeats of the same state follow the interval.

    A fault seen by thousands of requests a second thus costs one line per interval per key,
    not one per request. Keys are few and fixed (a dependency, a kind of error); each is kept for
    the life of the throttle. Call it from one thread (the event loop), as `logging` lines of one
    key are counted without a lock.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._keys: dict[Hashable, _Key] = {}

    def log(self, key: Hashable, level: int, msg: str, *args, state: Hashable = None) -> bool:
        """Log `msg % args` at `level` unless `key` logged within the interval in the same state.

        Returns whether the line was written.
        """
        entry = self._keys.setdefault(key, _Key())
        now = self.clock()
        changed = state is not None and state != entry.state
        if state is not None:
            entry.state = state
        if not changed and now - entry.logged_at < self.interval:
            entry.suppressed += 1
            return False
        if entry.suppressed and not changed:  # the lines held back were of this same state
            msg += f" ({entry.suppressed} more like this in {now - entry.logged_at:.0f} s)"
        self.logger.log(level, msg, *args)
        entry.logged_at, entry.suppressed = now, 0
        return True
