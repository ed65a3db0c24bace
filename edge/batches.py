"""Renditions of one source that wait for a worker together are made by one job.

A page's srcset asks for several widths of the same photo at once. When they
have to queue (every worker busy), the first one waits as a batch that the
others join; when a worker frees up, the whole batch goes to it, and the
worker decodes the source once per decode scale instead of once per width
(edge.render.render_batch: each result is byte for byte the one made alone).
With an idle worker a job starts at once, alone: batching never adds waiting.
Every job in a waiting batch holds a place in the pool's bounded queue.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from edge.pool import WorkerPool
from edge.render import RenderBatch, RenderJob

MAX_BATCH = 8  # renditions per batch: bounds one job's memory and time (its timeout grows with it)


@dataclass
class _Batch:
    jobs: list[RenderJob] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)
    open: bool = True  # still taking jobs (until a worker is free for it)


class SourceBatches:
    """Runs render jobs in the pool, batching those of the same source that are still waiting."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._waiting: dict[tuple, _Batch] = {}
        self._tasks: set[asyncio.Task] = set()

    async def render(self, job: RenderJob, data: bytes | None) -> tuple[dict, bytes]:
        """(meta, body) of `job`, as the pool's "render" job answers; `job.source` identifies
        the source (bucket, key, ETag), `data` is its bytes when no worker can read `job.path`."""
        self.pool.hold_place()  # now, so that the count is right however the tasks are ordered
        source = job.source
        batch = self._waiting.get(source)
        if batch is None or len(batch.jobs) >= MAX_BATCH:
            batch = self._waiting[source] = _Batch()
            task = asyncio.ensure_future(self._run(source, batch, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        future = asyncio.get_running_loop().create_future()
        batch.jobs.append(job)
        batch.futures.append(future)
        return await future

    def _seal(self, source: tuple, batch: _Batch) -> RenderBatch:
        """Called when a worker is free: the batch takes no more jobs, and gives back its places."""
        self._close(source, batch)
        return RenderBatch(tuple(batch.jobs))

    def _close(self, source: tuple, batch: _Batch) -> None:
        if batch.open:
            batch.open = False
            if self._waiting.get(source) is batch:
                del self._waiting[source]
            self.pool.free_places(len(batch.jobs) - 1)  # the first job's place went to pool.run

    async def _run(self, source: tuple, batch: _Batch, data: bytes | None) -> None:
        try:
            meta, body = await self.pool.run("render", lambda: self._seal(source, batch), data, held=True)
        except BaseException as exc:  # a full queue, a dead or stuck worker: the answer of every job
            self._close(source, batch)
            for future in batch.futures:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        self.pool.metrics.renders.inc(len(meta["items"]))
        self.pool.metrics.decodes.inc(meta["decodes"])
        offset = 0
        for future, (status, result, length) in zip(batch.futures, meta["items"]):
            if not future.done():  # else its request went away
                if status == "ok":
                    future.set_result((result, body[offset:offset + length]))
                else:
                    future.set_exception(result)
            offset += length
