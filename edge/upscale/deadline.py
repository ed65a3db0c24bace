"""A worker-side time budget that long steps check between their pieces (strips, tiles)."""

from __future__ import annotations

import time

from edge.upscale.errors import EnhanceTimeout


class Deadline:
    """`check()` raises EnhanceTimeout once `seconds` have passed since this was made."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise EnhanceTimeout("the restoration ran past the task's time limit and was stopped")
