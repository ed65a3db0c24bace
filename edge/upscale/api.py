"""The routes of the photo upscale API (seed 002), answered in the seed's JSON, never OSS XML.

    POST /tasks/visual/scale                       restore and enlarge one image; answers the finished task
    GET  /tasks/visual/scale/<task_id>             the task again (same AppCode; while it is kept)
    GET  /tasks/visual/scale/<task_id>/image?...   the result, through the signed link of the answer

A POST reads like the seed: AppCode (401) -> QPS (429) -> body (400, 413) -> task: image
bytes (upload, or download -3/-5) -> `upscale` job in the worker pool (-7, -1) -> answer.
The whole task, download included, has `[upscale] timeout` seconds (-8).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from edge.config import UpscaleConfig
from edge.errors import InternalError, ProcessTimeout, ServiceUnavailable
from edge.origin import ORIGIN
from edge.request_keys import DIALECT, REQUEST_ID
from edge.transcode import app_code
from edge.upscale.addresses import AddressPolicy
from edge.upscale.answers import refusal, task_answer
from edge.upscale.job import UpscaleJob
from edge.upscale.errors import (ApiError, EnhanceFailed, EnhanceTimeout, NotFound, ServerFailure, TaskFailure,
                                 TooManyRequests, Unauthorized, UploadFailed)
from edge.upscale.fetch import Downloads
from edge.upscale.links import PATH, ResultLinks
from edge.upscale.order import ScaleOrder, read_order
from edge.upscale.qps import QpsLimit
from edge.upscale.tasks import DONE, Task, TaskStore

log = logging.getLogger("edge.upscale")


@dataclass
class Upscale:
    """The API's state, one per application."""

    settings: UpscaleConfig
    tasks: TaskStore
    limit: QpsLimit
    links: ResultLinks
    downloads: Downloads


UPSCALE = web.AppKey("upscale", Upscale)


def add_routes(app: web.Application) -> None:
    """The API's routes and state on `app` (whose ORIGIN is set already)."""
    settings = app[ORIGIN].config.upscale
    app[UPSCALE] = Upscale(
        settings=settings,
        tasks=TaskStore(settings.task_retention, settings.max_tasks, settings.result_bytes),
        limit=QpsLimit(settings.qps),
        links=ResultLinks(),
        downloads=Downloads(AddressPolicy(settings.allow_networks)),
    )
    app.cleanup_ctx.append(_downloads)
    app.router.add_post("/tasks/visual/scale", _json(create))
    app.router.add_get("/tasks/visual/scale/{task_id}", _json(show))
    app.router.add_get(PATH, _json(result))
    app.router.add_route("*", "/tasks/visual/scale{tail:.*}", _json(unknown))


async def _downloads(app: web.Application):
    downloads = app[UPSCALE].downloads
    await downloads.open()
    try:
        yield
    finally:
        await downloads.close()


def _json(handler):
    """`handler` answering every refusal, and any bug, in the seed's JSON."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        request[DIALECT] = "upscale"  # the metrics label
        try:
            return await handler(request)
        except ApiError as exc:
            return refusal(exc)
        except Exception:
            log.exception("upscale request %s failed", request.get(REQUEST_ID))
            return refusal(ServerFailure("an internal error occurred; quote the x-oss-request-id"))

    return answer


async def create(request: web.Request) -> web.Response:
    api = request.app[UPSCALE]
    code = _authorize(request, api)
    if not api.limit.admit(code):
        raise TooManyRequests(f"more than {api.settings.qps:g} requests a second for this AppCode; slow down")
    order = await read_order(request)
    task = Task(code, order.treatment, order.return_type)
    try:
        await _perform(request, api, order, task)
    except TaskFailure as failure:
        task.fail(failure.state, failure.message)
    api.tasks.add(task)
    return task_answer(task, api.links, _base(request, api))


async def _perform(request: web.Request, api: Upscale, order: ScaleOrder, task: Task) -> None:
    """Get the image and restore it into `task`; raises the TaskFailure that ends it otherwise."""
    if order.upload_problem:
        raise UploadFailed(order.upload_problem)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + api.settings.timeout
    try:
        async with asyncio.timeout_at(deadline):
            image = await api.downloads.get(order.image_url) if order.image_url else order.upload
            job = UpscaleJob(order.treatment, order.asked_factor, api.settings.onnx_model, deadline - loop.time())
            made = await request.app[ORIGIN].pool.run(job, image)
    except TimeoutError:
        raise EnhanceTimeout(f"the task took longer than {api.settings.timeout:g} s and was stopped") from None
    except ProcessTimeout as exc:  # [server] job_timeout, the pool's hard stop, came first
        raise EnhanceTimeout(exc.message) from None
    except ServiceUnavailable as exc:  # the pool's queue is full, or no worker came free in time
        raise ServerFailure(exc.message, headers=exc.headers) from None
    except InternalError as exc:  # the job hit a bug, or its worker died
        raise EnhanceFailed(exc.message) from None
    task.succeed(made.body, made.meta["content_type"], made.meta["note"])


async def show(request: web.Request) -> web.Response:
    api = request.app[UPSCALE]
    code = _authorize(request, api)
    task = api.tasks.get(request.match_info["task_id"])
    if task is None or task.appcode != code:  # another AppCode's task is not even said to exist
        raise NotFound("no such task (tasks are kept for a limited time)")
    return task_answer(task, api.links, _base(request, api))


async def result(request: web.Request) -> web.Response:
    """The result image of a link; 403 once the link has expired, 404 once the task is no longer kept."""
    api = request.app[UPSCALE]
    task_id = request.match_info["task_id"]
    expires = request.query.get("expires", "")
    api.links.verify(task_id, expires, request.query.get("signature", ""))
    task = api.tasks.get(task_id)
    if task is None or task.state != DONE:
        raise NotFound("the result of this task is no longer kept")
    return web.Response(body=task.image, content_type=task.content_type,
                        headers={"Cache-Control": f"private, max-age={max(0, int(expires) - int(time.time()))}"})


async def unknown(request: web.Request) -> web.Response:
    raise NotFound(f"no such resource: {request.method} {request.path}")


def _authorize(request: web.Request, api: Upscale) -> str:
    code = app_code(request)
    if not code or code not in api.settings.appcodes:
        raise Unauthorized("the AppCode is missing or not valid for the upscale API (Authorization: APPCODE <code>)")
    return code


def _base(request: web.Request, api: Upscale) -> str:
    return api.settings.public_url or f"{request.scheme}://{request.host}"
