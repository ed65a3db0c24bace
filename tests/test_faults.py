"""The fault suite's worker and shutdown part (marker `slow`): faults under a bounded load of
distinct misses. Each test sends traffic to 127.0.0.1 only, for a bounded time, and stops."""

import concurrent.futures
import itertools
import os
import signal
import threading
import time

import pytest
import requests

from conftest import process, write_samples
from test_pool import pool_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    write_samples(folder)
    for i in range(8):  # distinct sources: distinct misses, few batches
        (folder / f"copy{i}.png").write_bytes((folder / "big.png").read_bytes())
    return folder


class Load:
    """`threads` clients asking distinct misses until stopped; every answer is kept."""

    def __init__(self, srv, threads: int) -> None:
        self.srv, self.answers, self.errors = srv, [], []
        self._stop = threading.Event()
        self._widths = itertools.count(100)
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(threads)
        self._futures = [self._pool.submit(self._client, i) for i in range(threads)]

    def _client(self, index: int) -> None:
        while not self._stop.is_set():
            with self._lock:
                width = next(self._widths)
            try:
                answer = process(self.srv, f"copy{index % 8}.png", f"image/resize,w_{width}/format,jpg")
                self.answers.append((answer.status_code, answer.text[:300] if answer.status_code != 200 else ""))
            except requests.RequestException as exc:
                self.errors.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        for future in self._futures:
            future.result(60)
        self._pool.shutdown()


def test_kill_of_a_busy_worker_under_load_fails_at_most_the_job_it_was_running(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=2, queue=64, job_timeout=30) as srv:
        load = Load(srv, threads=6)
        time.sleep(8)
        busy = srv.worker_pids()[0]
        os.kill(busy, signal.SIGKILL)
        time.sleep(12)
        load.stop()
        failed = [a for a in load.answers if a[0] != 200]
        print(f"\n{len(load.answers)} answers in 20 s, {len(failed)} failed: {failed}")
        assert load.errors == []
        assert len(load.answers) > 40
        assert len(failed) <= 1, failed
        assert all(status == 500 and "InternalError" in text for status, text in failed)
        assert srv.metric("edge_worker_restarts_total", reason="crash") + \
            srv.metric("edge_worker_restarts_total", reason="died") == 1
        assert len(srv.worker_pids()) == 2 and busy not in srv.worker_pids()


def test_sigterm_under_load_answers_every_request_and_exits_in_time(tmp_path, folder):
    with pool_server(tmp_path, folder, workers=2, queue=64, job_timeout=30, shutdown_timeout=3) as srv:
        load = Load(srv, threads=8)
        time.sleep(5)
        signalled = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        srv.process.wait(10)
        exited = time.monotonic() - signalled
        load.stop()
        statuses = sorted({status for status, _ in load.answers})
        print(f"\n{len(load.answers)} answers, statuses {statuses}; exited {exited:.2f} s after SIGTERM; "
              f"{len(load.errors)} requests found the port closed")
        assert exited < 3 + 1
        assert set(statuses) <= {200, 503}
        # After the signal, a client either got an answer or could not connect: never an empty reply.
        assert all("ConnectionError" in error and "RemoteDisconnected" not in error for error in load.errors), \
            load.errors[:3]
        assert "Traceback" not in srv.logs()
