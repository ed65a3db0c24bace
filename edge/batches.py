"""Renditions of one source that wait for a worker together are made by one job.

A page's srcset asks for several widths of the same photo at once. When they
have to queue (every worker busy), the first one waits as a batch that the
others join; when a worker frees up, the whole batch goes to it, and the
worker decodes the source once per decode scale instead of once per width
(edge.render.render_batch: each result is byte for byte the one made alone).
With an idle worker a job starts at once, alone: batching never adds waiting.
Every job in a waiting batch holds a place in the pool's bounded queue.

The worker runs a batch cheapest first and answers each rendition as soon as
it is made, so no job waits behind a dearer one. When the worker dies or
times out, the job it was making fails alone; the ones it had not reached
are tried once more, on a fresh worker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from edge.errors import InternalError, OssError, ProcessTimeout
from edge.pool import WorkerPool
from edge.batch_messages import BatchItem, BatchOrder, ItemMade
from edge.jobs import RenderBatch, RenderJob

MAX_BATCH = 8  # renditions per batch: bounds one job's memory


@dataclass
class _Batch:
    jobs: list[RenderJob] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)
    open: bool = True  # still taking jobs (until a worker is free for it)
    order: tuple[int, ...] | None = None  # the order the worker runs them in, once it has said


class SourceBatches:
    """Runs render jobs in the pool, batching those of the same source that are still waiting."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._waiting: dict[tuple, _Batch] = {}
        self._tasks: set[asyncio.Task] = set()

    async def render(self, job: RenderJob, data: bytes | None) -> tuple[dict, bytes]:
        """(meta, body) of the rendition `job` (edge.render.render_batch); `job.original` identifies
        the original (bucket, key, ETag), `data` is its bytes when no worker can read `job.path`."""
        self.pool.hold_place()  # now, so that the count is right however the tasks are ordered
        original = job.original
        batch = self._waiting.get(original)
        if batch is None or len(batch.jobs) >= MAX_BATCH:
            batch = self._waiting[original] = _Batch()
            self._start(self._run(original, batch, data))
        future = asyncio.get_running_loop().create_future()
        batch.jobs.append(job)
        batch.futures.append(future)
        return await future

    def _start(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _seal(self, original: tuple, batch: _Batch) -> RenderBatch:
        """Called when a worker is free: the batch takes no more jobs, and gives back its places."""
        self._close(original, batch)
        return RenderBatch(tuple(batch.jobs))

    def _close(self, original: tuple, batch: _Batch) -> None:
        if batch.open:
            batch.open = False
            if self._waiting.get(original) is batch:
                del self._waiting[original]
            self.pool.free_places(len(batch.jobs) - 1)  # the first job's place went to pool.run

    async def _run(self, original: tuple, batch: _Batch, data: bytes | None, retry: bool = False) -> None:
        try:
            on_item = lambda item, body: self._answer(batch, item, body)  # noqa: E731
            if retry:
                made = await self.pool.run(RenderBatch(tuple(batch.jobs)), data, on_item=on_item)
            else:
                made = await self.pool.run_when_free(lambda: self._seal(original, batch), data, held=True,
                                                     on_item=on_item)
        except BaseException as exc:  # a full queue, a dead or stuck worker
            if not retry:
                self._close(original, batch)
            if not isinstance(exc, Exception):
                _fail(batch.futures, None)
                raise
            if isinstance(exc, (ProcessTimeout, InternalError)):
                self._after_crash(original, batch, data, exc, retry)
            else:
                _fail(batch.futures, exc)
            return
        self.pool.metrics.decodes.inc(made.meta["decodes"])

    def _answer(self, batch: _Batch, message: BatchItem | BatchOrder, body: bytes) -> None:
        """One message of the worker: the order it runs the batch in, or one rendition made or failed."""
        if isinstance(message, BatchOrder):
            batch.order = message.indices
            return
        self.pool.metrics.renders.inc()
        future = batch.futures[message.index]
        if not future.done():  # else its request went away
            if isinstance(message, ItemMade):
                future.set_result((message.meta, body))
            else:
                future.set_exception(message.error)

    def _after_crash(self, original: tuple, batch: _Batch, data: bytes | None, exc: OssError, retried: bool) -> None:
        """The worker died or timed out: the job it was making fails with `exc`; the others it had
        not reached are tried once more on another worker (if this was not that try already)."""
        pending = [i for i, future in enumerate(batch.futures) if not future.done()]
        culprit = next((i for i in batch.order or () if i in pending), None)
        if culprit is not None:
            batch.futures[culprit].set_exception(exc)
            pending.remove(culprit)
        if retried or not pending or culprit is None and len(pending) == 1:
            _fail([batch.futures[i] for i in pending], exc)
            return
        again = _Batch([batch.jobs[i] for i in pending], [batch.futures[i] for i in pending], open=False)
        self._start(self._run(original, again, data, retry=True))


def _fail(futures: list[asyncio.Future], exc: Exception | None) -> None:
    """Fail (or, with None, cancel) each future not yet answered."""
    for future in futures:
        if not future.done():
            if exc is None:
                future.cancel()
            else:
                future.set_exception(exc)
