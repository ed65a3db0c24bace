"""The JSON answers of the upscale API (seed 002): `{status, message, data}`.

A task's answer is HTTP 200 with `data` = {state, progress, task_id, image, return_type,
type, created_at, completed_at}, whether the task succeeded (state 1) or failed (state < 0).
A refused request (no task) has the refusal's status as both HTTP and JSON `status`, and
`data` null.
"""

from __future__ import annotations

import base64

from aiohttp import web

from edge.upscale.errors import ApiError
from edge.upscale.links import ResultLinks
from edge.upscale.tasks import DONE, Task


def task_answer(task: Task, links: ResultLinks, base: str) -> web.Response:
    """`task`, finished; a result is a link under `base` (return_type 1) or base64 (2)."""
    image = ""
    if task.state == DONE:
        image = links.url(base, task) if task.return_type == 1 else base64.b64encode(task.image).decode()
    data = {
        "state": task.state,
        "progress": 100 if task.state == DONE else 0,
        "task_id": task.task_id,
        "image": image,
        "return_type": task.return_type,
        "type": task.treatment,
        "created_at": int(task.created_at),
        "completed_at": int(task.completed_at),
    }
    return web.json_response({"status": 200, "message": task.message, "data": data})


def refusal(error: ApiError) -> web.Response:
    return web.json_response({"status": error.status, "message": error.message, "data": None},
                             status=error.status, headers=error.headers)
