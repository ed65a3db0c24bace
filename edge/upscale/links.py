"""Result links that expire: `<base>/tasks/visual/scale/<task_id>/image?expires=<unix s>&signature=<hex>`.

The signature is an HMAC-SHA256 of the task id and the expiry under a key made when the
server starts. The results live in that process's memory only, so a key that dies with
the process loses nothing, and no secret has to be configured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import quote

from edge.upscale.errors import LinkExpired
from edge.upscale.rules import LINK_SECONDS
from edge.upscale.tasks import Task

PATH = "/tasks/visual/scale/{task_id}/image"


class ResultLinks:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def url(self, base: str, task: Task) -> str:
        """The link to `task`'s image under `base` (scheme://host[/prefix]), valid for one hour after it finished."""
        expires = int(task.completed_at) + LINK_SECONDS
        path = PATH.format(task_id=quote(task.task_id, safe=""))
        return f"{base.rstrip('/')}{path}?expires={expires}&signature={self._sign(task.task_id, expires)}"

    def verify(self, task_id: str, expires: str, signature: str) -> None:
        """Raise LinkExpired unless `signature` is ours for (`task_id`, `expires`) and `expires` is still ahead."""
        if not expires.isdigit() or not hmac.compare_digest(self._sign(task_id, int(expires)), signature):
            raise LinkExpired("the link's signature does not match")
        if int(expires) < time.time():
            raise LinkExpired("the link has expired (links are valid for one hour)")

    def _sign(self, task_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{task_id}\n{expires}".encode(), hashlib.sha256).hexdigest()
