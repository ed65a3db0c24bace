"""Upscale tasks and the in-memory store that keeps the finished ones for `GET` and result links.

The store lives in one server process and is lost on restart. It is bounded three
ways: a task is kept `retention` seconds after it finished, at most `max_tasks` are
kept, and their result images take at most `max_bytes`; the oldest go first.
"""

from __future__ import annotations

import collections
import time
import uuid
from dataclasses import dataclass, field

DONE = 1  # the seed's state of a task that succeeded


@dataclass
class Task:
    """One call of `POST /tasks/visual/scale`; `state` 0 until it finishes (1, or a failure's -1..-8)."""

    appcode: str
    treatment: str     # "clean" or "face", as asked (the API's `type`)
    return_type: int   # 1: the result as a link, 2: as base64
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.time)
    state: int = 0
    message: str = ""
    completed_at: float = 0.0
    image: bytes = b""
    content_type: str = ""

    def succeed(self, image: bytes, content_type: str, note: str) -> None:
        self._finish(DONE, f"success; {note}" if note else "success")
        self.image, self.content_type = image, content_type

    def fail(self, state: int, message: str) -> None:
        self._finish(state, message)

    def _finish(self, state: int, message: str) -> None:
        self.state, self.message, self.completed_at = state, message, time.time()


class TaskStore:
    """Finished tasks by id; `get` answers None for one never made, expired or evicted."""

    def __init__(self, retention: float, max_tasks: int, max_bytes: int) -> None:
        self.retention, self.max_tasks, self.max_bytes = retention, max_tasks, max_bytes
        self._tasks: collections.OrderedDict[str, Task] = collections.OrderedDict()
        self._bytes = 0

    def add(self, task: Task) -> None:
        self._tasks[task.task_id] = task
        self._bytes += len(task.image)
        self._expire()
        while len(self._tasks) > self.max_tasks or self._bytes > self.max_bytes:
            self._drop_oldest()

    def get(self, task_id: str) -> Task | None:
        self._expire()
        return self._tasks.get(task_id)

    def _expire(self) -> None:
        # Tasks enter in the order they finish, so the oldest is always first.
        horizon = time.time() - self.retention
        while self._tasks and next(iter(self._tasks.values())).completed_at < horizon:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, task = self._tasks.popitem(last=False)
        self._bytes -= len(task.image)
