"""The worker pool: the only place where CPU work (decode, process, encode) runs.

`WorkerPool.run(job, data)` hands a job (edge.jobs) to an idle worker process.
When all are busy, up to `queue` jobs wait; one more is refused at once with
503 ServiceUnavailable and Retry-After, so a burst never piles up memory, and
one that waits past `queue_timeout` is refused the same way, so a client is
not kept beyond what a CDN would wait for (it would retry anyway). A
job that runs past `job_timeout` has its worker killed and replaced (504
ProcessTimeout); a worker that dies fails only its own job (500) and is
replaced. A worker that dies while idle is replaced at once (each worker's
exit is watched), so no job is sent to a dead one and the count of live
workers is true. Workers are recycled after `max_jobs` jobs or past
`max_rss` bytes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable

from edge import channel, registry, tracing
from edge.errors import InternalError, ProcessTimeout, ServiceUnavailable
from edge.batch_messages import BatchOrder, ItemFailed, ItemMade
from edge.jobs import Job, Made
from edge.metrics import Metrics

log = logging.getLogger("edge.pool")

_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
_START_TIMEOUT = 60.0


def _no_items(message: object, body: bytes) -> None:
    raise RuntimeError(f"a job that does not answer as it goes sent {message!r}")


def _no_progress() -> None:
    pass


class Worker:
    """One worker process and its channel."""

    def __init__(self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.process, self.reader, self.writer = process, reader, writer
        self.jobs = 0
        self.rss = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    async def call(self, job: Job, data: bytes | None, on_item=_no_items,
                   progress=_no_progress) -> tuple[object, bytes]:
        """Send the job; pass each message it sends before its answer (edge.jobs: a BatchItem or
        BatchOrder) to `on_item(message, body)` and call `progress()` after it; return the answer."""
        await channel.write_message(self.writer, (job, tracing.carrier()), data or b"")
        while True:
            answer, body = await channel.read_message(self.reader)
            if not isinstance(answer, (ItemMade, ItemFailed, BatchOrder)):
                return answer, body
            on_item(answer, body)
            progress()

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def stop(self, grace: float = 2.0) -> None:
        """Close the channel (the worker exits on its own), and kill it if it lingers."""
        with contextlib.suppress(Exception):
            self.writer.close()
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except asyncio.TimeoutError:
            self.kill()
            await self.process.wait()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class WorkerPool:
    def __init__(self, size: int, queue: int, job_timeout: float, metrics: Metrics,
                 max_jobs: int = 0, max_rss: int = 0, queue_timeout: float = 10.0) -> None:
        self.size, self.queue, self.job_timeout, self.queue_timeout = size, queue, job_timeout, queue_timeout
        self.max_jobs, self.max_rss = max_jobs, max_rss
        self.metrics = metrics
        self._idle: list[Worker] = []
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._workers: set[Worker] = set()
        self._busy = 0
        self._held = 0  # queue places held by jobs waiting inside a batch (hold_place)
        self._closing = False
        self._background: set[asyncio.Task] = set()

    # -- life cycle -------------------------------------------------------

    async def start(self) -> None:
        """Start `size` workers and wait until each has said it is ready."""
        # Every start ends (ready or failed) before a failure is raised, so `close` stops them all.
        started = await asyncio.gather(*(self._spawn() for _ in range(self.size)), return_exceptions=True)
        failed = next((result for result in started if isinstance(result, BaseException)), None)
        if failed is not None:
            raise failed
        for worker in started:
            self._release(worker)

    async def close(self) -> None:
        """Stop every worker (they finish nothing further) and fail whoever still waits."""
        self._closing = True
        for task in list(self._background):
            task.cancel()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ServiceUnavailable("the server is shutting down"))
        # Nobody waits for what a busy worker is making any more: a short grace, then it is killed.
        await asyncio.gather(*(w.stop(grace=0.3) for w in list(self._workers)), return_exceptions=True)
        self._workers.clear()
        self._idle.clear()

    @property
    def ready(self) -> bool:
        return bool(self._workers) and not self._closing

    def pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    # -- running jobs -----------------------------------------------------

    async def run(self, job: Job, data: bytes | None = None, held: bool = False, on_item=None) -> Made:
        """Run `job` in a worker; return what it made.

        `held`: the caller took its queue place already (`hold_place`), and
        this job uses it. A job that answers as it goes (a render batch) has
        each of its messages passed to `on_item(message, body)`, and the job
        timeout counts from the last of them.

        Raises what the job raised (an OssError or a JobFailure),
        ServiceUnavailable when the queue is full or the job waited
        `queue_timeout` for a worker, ProcessTimeout past the job timeout,
        InternalError when the worker died. If the caller is cancelled, the
        job still finishes (and its worker returns to the pool) in the
        background.
        """
        return await self.run_when_free(lambda: job, data, held, on_item)

    async def run_when_free(self, make: Callable[[], Job], data: bytes | None = None, held: bool = False,
                            on_item=None) -> Made:
        """As `run`, for the job `make()` returns once a worker is free: a job that gathers more work
        while it waits (edge.batches)."""
        queued_at = time.monotonic()
        with tracing.span("queue.wait"):
            worker = await self._acquire(held)
        self.metrics.queue_wait_seconds.observe(time.monotonic() - queued_at)
        task = asyncio.ensure_future(self._execute(worker, make(), data, on_item or _no_items))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return await asyncio.shield(task)

    async def _execute(self, worker: Worker, job: Job, data: bytes | None, on_item) -> Made:
        name = job.name
        self._busy += 1
        self.metrics.busy_workers.set(self._busy)
        started = time.monotonic()
        timeout = self.job_timeout
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout) as deadline:  # not wait_for: no task of its own per job
                answer, body = await worker.call(
                    job, data, on_item, lambda: deadline.reschedule(loop.time() + timeout))
        except TimeoutError:
            self._replace(worker, "timeout")
            self.metrics.jobs.labels(name, "timeout").inc()
            raise ProcessTimeout(f"processing took longer than {timeout:g} s and was stopped") from None
        except (asyncio.IncompleteReadError, ConnectionError, OSError, EOFError):
            self._replace(worker, "crash")
            self.metrics.jobs.labels(name, "crash").inc()
            raise InternalError("the worker processing this request stopped unexpectedly") from None
        finally:
            self._busy -= 1
            self.metrics.busy_workers.set(self._busy)
            self.metrics.job_seconds.observe(time.monotonic() - started)
        worker.rss = answer.rss
        worker.jobs += 1
        if (self.max_jobs and worker.jobs >= self.max_jobs) or (self.max_rss and worker.rss > self.max_rss):
            self._replace(worker, "recycle")
        else:
            self._release(worker)
        if answer.error is None:
            self.metrics.jobs.labels(name, "ok").inc()
            return Made(answer.meta, body)
        self.metrics.jobs.labels(name, "error").inc()
        raise answer.error

    async def _acquire(self, held: bool = False) -> Worker:
        if held:  # the place becomes this waiter's, or is not needed
            self._held -= 1
        if self._closing:
            raise ServiceUnavailable("the server is shutting down")
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            self._replace(worker, "died")  # its exit is being reported: never send it a job
        if not held:
            self._check_room()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.metrics.queue_depth.set(len(self._waiters))
        try:
            async with asyncio.timeout(self.queue_timeout):
                return await waiter
        except (asyncio.CancelledError, TimeoutError) as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())  # it came just too late: the next waiter has it
            if isinstance(exc, TimeoutError):
                self.metrics.queue_timeouts.inc()
                raise ServiceUnavailable(
                    f"no worker was free within server.queue_timeout ({self.queue_timeout:g} s); retry shortly",
                    retry_after=1) from None
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            self.metrics.queue_depth.set(len(self._waiters))

    def hold_place(self) -> None:
        """Take a place in the queue now, for a job that waits inside a batch or is run later
        with `held=True`; ServiceUnavailable when the queue is full. `free_places` gives it back."""
        self._check_room()
        self._held += 1

    def free_places(self, count: int) -> None:
        self._held -= count

    def _check_room(self) -> None:
        # Idle workers take held places at once, so they count as room.
        if len(self._waiters) + self._held >= self.queue + len(self._idle):
            self.metrics.queue_rejections.inc()
            raise ServiceUnavailable(
                f"all {self.size} workers are busy and {self.queue} jobs are waiting; retry shortly",
                retry_after=1)

    def _release(self, worker: Worker) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                self.metrics.queue_depth.set(len(self._waiters))
                return
        self._idle.append(worker)

    # -- replacing workers ------------------------------------------------

    def _replace(self, worker: Worker, reason: str) -> None:
        """Retire `worker` (killed unless it is merely recycled) and start another in its place;
        nothing when it was retired already."""
        if worker not in self._workers:
            return
        self._workers.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        self.metrics.live_workers.set(len(self._workers))
        self.metrics.worker_restarts.labels(reason).inc()
        if reason != "recycle":
            log.warning("replacing worker %d (%s)", worker.pid, reason)
            worker.kill()
        self._in_background(worker.stop())
        if not self._closing:
            self._in_background(self._respawn())

    async def _respawn(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                self._release(await self._spawn())
                return
            except Exception:  # keep trying: a pool that gives up is a dead server
                log.exception("could not start a worker; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _in_background(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _spawn(self) -> Worker:
        worker, _ = await start_worker("edge.worker")
        self._workers.add(worker)
        self.metrics.live_workers.set(len(self._workers))
        self._in_background(self._watch(worker))
        return worker

    async def _watch(self, worker: Worker) -> None:
        """Replace `worker` as soon as it exits on its own while idle (killed, out of memory): a
        busy one's death is its job's to report (edge.pool._execute)."""
        await worker.process.wait()
        if worker in self._idle:
            log.warning("worker %d exited while idle (status %s); replacing it", worker.pid, worker.process.returncode)
            self._replace(worker, "died")


async def start_worker(module: str, *arguments: str, timeout: float = _START_TIMEOUT) -> tuple[Worker, tuple]:
    """Start `python -m <module> <channel fd> <arguments>` and wait for its hello; (worker, hello).
    Kills it and raises when it says nothing within `timeout` s, or anything but ("ready", ...)."""
    ours, theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT_ROOT, env.get("PYTHONPATH")]))
    # Fewer malloc arenas keep a long-lived image worker's RSS from creeping (docs/performance.md).
    env.setdefault("MALLOC_ARENA_MAX", "2")
    if registry.loaded():  # the worker loads the server's plugins, not its own guess
        env[registry.ENVIRONMENT] = ",".join(registry.loaded())
    try:
        # -P: not the current folder first on sys.path, where another checkout's edge/ would win
        # over the server's own code (PYTHONPATH above) and speak another protocol.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", module, str(theirs.fileno()), *arguments,
            pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=env)
    finally:
        theirs.close()
    reader, writer = await asyncio.open_connection(sock=ours)
    worker = Worker(process, reader, writer)
    try:
        hello, _ = await asyncio.wait_for(channel.read_message(reader), timeout)
    except BaseException:
        worker.kill()
        raise
    if not (isinstance(hello, tuple) and hello[0] == "ready"):
        worker.kill()
        raise RuntimeError(f"worker {process.pid} said {hello!r} instead of ready")
    return worker, hello
