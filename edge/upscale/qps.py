"""The per-AppCode request rate limit of the upscale API (the seed's "默认QPS为2")."""

from __future__ import annotations

import time


class QpsLimit:
    """A token bucket per AppCode: `qps` requests a second on average, and at most
    max(1, qps) at once after a quiet second. Only known AppCodes reach it, so it stays small."""

    def __init__(self, qps: float) -> None:
        self.qps = qps
        self.burst = max(1.0, qps)
        self._buckets: dict[str, tuple[float, float]] = {}  # AppCode -> (tokens, when counted)

    def admit(self, appcode: str) -> bool:
        """Take one request of `appcode`'s allowance; False when there is none left this moment."""
        now = time.monotonic()
        tokens, then = self._buckets.get(appcode, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.qps)
        if tokens < 1:
            self._buckets[appcode] = (tokens, now)
            return False
        self._buckets[appcode] = (tokens - 1, now)
        return True
