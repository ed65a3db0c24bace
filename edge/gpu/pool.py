"""The GPU pool: one GPU worker process, fed batches of renditions of any sources.

`GpuPool.render(job, data)` queues a rendition. A dispatcher takes the first
waiting job, collects more for up to `batch_wait` seconds or until `batch` are
there, and sends them to the worker as one batch. One batch is in the worker
at a time. Faults cost only their own jobs:

- a batch past `job_timeout` has its worker killed and replaced, a worker that
  dies is replaced; the jobs of a failed batch of several are each retried
  once, alone, so the job that caused it fails (504 ProcessTimeout or 500
  InternalError) and the others are made;
- while the worker is down (starting again, or failing to), new jobs are
  refused at once with 503 ServiceUnavailable and Retry-After, as are jobs
  past `queue` waiting ones.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass

from edge.batch_messages import ItemMade
from edge.errors import InternalError, OssError, ProcessTimeout, ServiceUnavailable
from edge.jobs import GpuBatch, RenderJob
from edge.metrics import Metrics
from edge.pool import Worker, start_worker

log = logging.getLogger("edge.gpu")

RETRY_AFTER = 5  # seconds: about what a GPU worker takes to start again


@dataclass
class _Waiting:
    job: RenderJob
    data: bytes | None
    future: asyncio.Future
    queued_at: float
    alone: bool = False  # a retry after its batch failed: runs in a batch of its own, once


class GpuPool:
    """Owns the one GPU worker: spawns it, batches jobs for it, replaces it after a crash or timeout.

    `renderer` is the id the probe found; a worker that reports another is not used. `cpu` starts
    the CPU-only stand-in; `lanes`: how many threads of the worker share a batch (edge.gpu.render.Lanes);
    `module` is the worker's module (tests start a faulty one)."""

    def __init__(self, metrics: Metrics, renderer: str, *, batch: int = 32, batch_wait: float = 0.003,
                 job_timeout: float = 30.0, queue: int = 256, cpu: bool = False, hardware: bool = True,
                 lanes: int = 2, module: str = "edge.gpu.worker", start_timeout: float = 120.0) -> None:
        self.metrics, self.renderer = metrics, renderer
        self.batch, self.batch_wait, self.job_timeout, self.queue = batch, batch_wait, job_timeout, queue
        self.start_timeout = start_timeout
        self._arguments = (["--cpu"] if cpu else []) + ([] if hardware else ["--cuda-decoder"]) + \
            ["--lanes", str(lanes)]
        self._module = module
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._arrived = asyncio.Event()
        self._worker: Worker | None = None
        self._dispatcher: asyncio.Task | None = None
        self._starting: asyncio.Task | None = None
        self._restarting = asyncio.Lock()
        self._watcher: asyncio.Task | None = None
        self._busy = False  # a batch is in the worker
        self._closing = False

    # -- life cycle -------------------------------------------------------

    async def start(self) -> None:
        """Start the worker and wait until it is ready. If it cannot start, raise, and keep trying in
        the background (its renditions are answered 503 meanwhile)."""
        self._dispatcher = asyncio.ensure_future(self._dispatch())
        try:
            self._worker = await self._spawn()
        except Exception:
            self._starting = asyncio.ensure_future(self._restart())
            raise

    async def close(self) -> None:
        """Stop the worker; whoever still waits is answered 503."""
        self._closing = True
        for task in (self._dispatcher, self._starting, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fail_waiting(ServiceUnavailable("the server is shutting down"))
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        self.metrics.gpu_worker_up.set(0)

    @property
    def up(self) -> bool:
        """Whether the worker is running (False while it starts again after a fault)."""
        return self._worker is not None and not self._closing

    def pid(self) -> int | None:
        return self._worker.pid if self._worker else None

    # -- jobs ---------------------------------------------------------------

    async def render(self, job: RenderJob, data: bytes | None) -> tuple[dict, bytes]:
        """(meta, body) of `job`, as the CPU pool's "render" job answers for one rendition.

        Raises the job's own OssError; ServiceUnavailable (Retry-After) when the worker is down or
        `queue` jobs wait; ProcessTimeout or InternalError when the job itself stopped the worker.
        A cancelled caller's job is left out of the batches not yet sent."""
        if not self.up:
            self.metrics.gpu_jobs.labels("unavailable").inc()
            raise ServiceUnavailable("the GPU worker is starting again; retry shortly", retry_after=RETRY_AFTER)
        if len(self._waiting) >= self.queue:
            self.metrics.gpu_jobs.labels("rejected").inc()
            raise ServiceUnavailable(f"{self.queue} renditions wait for the GPU; retry shortly", retry_after=1)
        waiting = _Waiting(job, data, asyncio.get_running_loop().create_future(), time.monotonic())
        self._waiting.append(waiting)
        self._arrived.set()
        return await waiting.future

    async def _dispatch(self) -> None:
        while not self._closing:
            await self._arrived.wait()
            self._arrived.clear()
            batch = await self._collect()
            if batch:
                await self._run(batch)
            if self._waiting:
                self._arrived.set()

    async def _collect(self) -> list[_Waiting]:
        """The next batch: a retry alone, or what arrives within batch_wait of the first, up to batch."""
        self._drop_cancelled()
        if not self._waiting:
            return []
        if self._waiting[0].alone:
            return [self._waiting.popleft()]
        deadline = time.monotonic() + self.batch_wait
        while len(self._waiting) < self.batch and time.monotonic() < deadline:
            await asyncio.sleep(min(0.001, max(0.0, deadline - time.monotonic())))
        self._drop_cancelled()
        batch = []
        while self._waiting and len(batch) < self.batch and not self._waiting[0].alone:
            batch.append(self._waiting.popleft())
        return batch

    def _drop_cancelled(self) -> None:
        self._waiting = collections.deque(w for w in self._waiting if not w.future.done())

    async def _run(self, batch: list[_Waiting]) -> None:
        worker = self._worker
        if worker is None:  # down, and could not start again: nobody queued can be made now
            for waiting in batch:
                _settle(waiting, exception=ServiceUnavailable(
                    "the GPU worker is down; retry shortly", retry_after=RETRY_AFTER))
            await self._restart()
            return
        now = time.monotonic()
        for waiting in batch:
            self.metrics.gpu_queue_wait_seconds.observe(now - waiting.queued_at)
        self.metrics.gpu_batch_size.observe(len(batch))
        gpu_batch = GpuBatch(tuple(w.job for w in batch), tuple(len(w.data or b"") for w in batch))
        blob = b"".join(w.data or b"" for w in batch)
        self._busy = True
        try:
            async with asyncio.timeout(self.job_timeout):
                answer, body = await worker.call(gpu_batch, blob)
        except TimeoutError:
            log.warning("GPU worker %d: a batch of %d took longer than %g s; replacing it",
                        worker.pid, len(batch), self.job_timeout)
            await self._failed(batch, "timeout", ProcessTimeout(
                f"processing took longer than {self.job_timeout:g} s and was stopped"))
            return
        except (asyncio.IncompleteReadError, ConnectionError, OSError, EOFError):
            log.warning("GPU worker %d stopped unexpectedly during a batch of %d; replacing it",
                        worker.pid, len(batch))
            await self._failed(batch, "crash", InternalError("the GPU worker processing this request stopped "
                                                             "unexpectedly"))
            return
        finally:
            self._busy = False
        if answer.error is not None:  # the batch failed as a whole, the worker lives: each job once more alone
            self._retry_or_fail(batch, "error", answer.error)
            return
        meta = answer.meta
        self.metrics.gpu_seconds.observe(meta["gpu_seconds"])
        offset = 0
        for waiting, item in zip(batch, meta["items"]):
            self.metrics.gpu_jobs.labels(item.status).inc()
            if isinstance(item, ItemMade):
                _settle(waiting, result=(item.meta, body[offset:offset + item.length]))
                offset += item.length
            else:
                _settle(waiting, exception=item.error)

    async def _failed(self, batch: list[_Waiting], outcome: str, error: OssError) -> None:
        worker, self._worker = self._worker, None
        self.metrics.gpu_worker_up.set(0)
        if worker is not None:
            worker.kill()
            await worker.stop()
        self._retry_or_fail(batch, outcome, error)
        await self._restart()

    def _retry_or_fail(self, batch: list[_Waiting], outcome: str, error: OssError) -> None:
        """A batch of one fails with `error`; the jobs of a bigger one go first in line, each alone."""
        if len(batch) == 1:
            self.metrics.gpu_jobs.labels(outcome).inc()
            _settle(batch[0], exception=error)
            return
        self.metrics.gpu_jobs.labels("retried").inc(len(batch))
        for waiting in reversed(batch):
            waiting.alone = True
            self._waiting.appendleft(waiting)
        self._arrived.set()

    async def _restart(self) -> None:
        """Start a worker again, with backoff; while none runs, queued jobs are answered 503."""
        delay = 0.1
        async with self._restarting:
            while not self._closing and self._worker is None:
                try:
                    self._worker = await self._spawn()
                    return
                except Exception as exc:
                    log.error("could not start the GPU worker (%s); retrying in %.1f s", exc, delay)
                    self._fail_waiting(ServiceUnavailable("the GPU worker is down; retry shortly",
                                                          retry_after=RETRY_AFTER))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)

    def _fail_waiting(self, error: OssError) -> None:
        while self._waiting:
            _settle(self._waiting.popleft(), exception=error)

    async def _spawn(self) -> Worker:
        worker, hello = await start_worker(self._module, *self._arguments, timeout=self.start_timeout)
        if len(hello) < 3 or hello[2] != self.renderer:
            worker.kill()
            await worker.stop()
            raise RuntimeError(f"GPU worker {worker.pid} said {hello!r}, not ready as {self.renderer}")
        self.metrics.gpu_worker_up.set(1)
        self._watcher = asyncio.ensure_future(self._watch(worker))
        return worker

    async def _watch(self, worker: Worker) -> None:
        """A worker that dies between batches is replaced at once, not found dead by the next batch."""
        await worker.process.wait()
        if self._worker is worker and not self._busy and not self._closing:
            log.warning("GPU worker %d exited between batches; replacing it", worker.pid)
            self._worker = None
            self.metrics.gpu_worker_up.set(0)
            await self._restart()


def _settle(waiting: _Waiting, result=None, exception: BaseException | None = None) -> None:
    if waiting.future.done():  # its request went away
        return
    if exception is not None:
        waiting.future.set_exception(exception)
    else:
        waiting.future.set_result(result)
