"""The worker pool under faults: a killed worker, a stuck job, a full queue."""

import concurrent.futures
import io
import os
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from PIL import Image

import plugins.operations  # noqa: F401  (registers resize for Pipeline.parse)
from conftest import ROOT, Server, free_port, open_image, process
from edge import channel
from edge.config import Limits
from edge.pipeline import Pipeline
from edge.jobs import RenderBatch, RenderJob
from edge.render import KEEP_SECONDS
from proctree import memory_kib, tree

SLOW = "image/rotate,45/format,png"  # about 3 s of real work on the 4000x4000 big.png


def pool_server(tmp_path, samples, **server) -> Server:
    settings = "\n".join(f"{k} = {v}" for k, v in server.items())
    return Server(tmp_path, f"""
[server]
port = {{port}}
{settings}
[cache]
memory_bytes = 0
[buckets.test]
source = "file://{samples}"
""", name="pool")


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill_once_busy(pid: int, seconds: float) -> None:
    """SIGKILL the worker `pid` once it has spent `seconds` more of CPU (at most 20 s from now)."""
    start = cpu_seconds(pid)
    deadline = time.monotonic() + 20
    while cpu_seconds(pid) - start < seconds and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_mid_job_fails_one_request_and_the_pool_recovers(tmp_path, samples):
    with pool_server(tmp_path, samples, workers=1, job_timeout=60) as srv:
        [worker] = srv.worker_pids()
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            slow = executor.submit(process, srv, "big.png", SLOW)
            kill_once_busy(worker, 0.3)
            response = slow.result(60)
        assert response.status_code == 500
        assert "<Code>InternalError</Code>" in response.text
        assert open_image(process(srv, "photo.jpg", "image/resize,w_20")).size == (20, 15)
        assert srv.worker_pids() != [worker]
        assert srv.metric("edge_worker_restarts_total", reason="crash") == 1


def test_a_job_past_the_timeout_is_stopped_and_its_worker_replaced(tmp_path, samples):
    with pool_server(tmp_path, samples, workers=1, job_timeout=0.5) as srv:
        [worker] = srv.worker_pids()
        started = time.monotonic()
        response = process(srv, "big.png", SLOW)
        assert time.monotonic() - started < 2.5
        assert response.status_code == 504
        assert "<Code>ProcessTimeout</Code>" in response.text and "0.5 s" in response.text
        assert open_image(process(srv, "photo.jpg", "image/resize,w_20")).size == (20, 15)
        assert worker not in srv.worker_pids()
        assert srv.metric("edge_worker_restarts_total", reason="timeout") == 1


def test_a_full_queue_answers_503_with_retry_after_at_once(tmp_path, samples):
    # Six sources, so no two requests can share one job (renditions of one source that wait
    # together are batched: edge/batches.py).
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    for i in range(6):
        os.link(samples / "big.png", bucket / f"big{i}.png")
    with pool_server(tmp_path, bucket, workers=1, queue=1, job_timeout=60) as srv:
        with concurrent.futures.ThreadPoolExecutor(6) as executor:
            futures = [executor.submit(process, srv, f"big{i}.png", f"image/rotate,{40 + i}/format,png")
                       for i in range(6)]
            time.sleep(0.5)
            started = time.monotonic()
            assert srv.get("/healthz").status_code == 200
            assert time.monotonic() - started < 0.5
            results = [f.result(120) for f in futures]
        refused = [r for r in results if r.status_code == 503]
        assert len(refused) == 4  # one running, one waiting
        for response in refused:
            assert response.headers["Retry-After"] == "1"
            assert "<Code>ServiceUnavailable</Code>" in response.text
            assert response.elapsed.total_seconds() < 1.0
        assert sum(r.status_code == 200 for r in results) == 2
        assert srv.metric("edge_queue_rejections_total") == 4


def test_a_job_that_waits_past_the_queue_timeout_answers_503_and_the_pool_goes_on(tmp_path, samples):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    for i in range(2):
        os.link(samples / "big.png", bucket / f"big{i}.png")
    with pool_server(tmp_path, bucket, workers=1, queue=4, queue_timeout=0.5, job_timeout=60) as srv:
        [worker] = srv.worker_pids()
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            slow = executor.submit(process, srv, "big0.png", SLOW)
            time.sleep(0.3)
            waited = process(srv, "big1.png", SLOW)
            assert waited.status_code == 503
            assert waited.headers["Retry-After"] == "1"
            assert "<Code>ServiceUnavailable</Code>" in waited.text and "queue_timeout (0.5 s)" in waited.text
            assert 0.4 < waited.elapsed.total_seconds() < 2.0
            assert slow.result(60).status_code == 200
        assert open_image(process(srv, "big1.png", "image/resize,w_20")).size == (20, 20)
        assert srv.worker_pids() == [worker]  # nobody was killed for it
        assert srv.metric("edge_queue_timeouts_total") == 1
        assert srv.metric("edge_queue_rejections_total") == 0


def test_workers_are_recycled_after_max_jobs(tmp_path, samples):
    with pool_server(tmp_path, samples, workers=1, worker_max_jobs=3) as srv:
        first = srv.worker_pids()
        for width in range(10, 17):
            assert open_image(process(srv, "photo.jpg", f"image/resize,w_{width}")).size[0] == width
        assert srv.metric("edge_worker_restarts_total", reason="recycle") == 2
        assert srv.worker_pids() != first


def test_sigterm_stops_the_server_and_its_workers(tmp_path, samples):
    srv = pool_server(tmp_path, samples, workers=2)
    workers = srv.worker_pids()
    srv.process.send_signal(signal.SIGTERM)
    assert srv.process.wait(20) == 0
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
    srv.log.close()


def test_sigterm_lets_a_request_in_flight_finish(tmp_path, samples):
    srv = pool_server(tmp_path, samples, workers=1, shutdown_timeout=30)
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        slow = executor.submit(process, srv, "big.png", SLOW)
        deadline = time.monotonic() + 10
        while srv.metric("edge_busy_workers") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.process.send_signal(signal.SIGTERM)
        response = slow.result(60)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert srv.process.wait(30) == 0
    srv.log.close()


def tree_rss_mib(pid: int) -> float:
    """RSS of a process and its descendants (the workers), in MiB."""
    return memory_kib(tree([pid]))[0] / 1024


def burst_peak_rss(srv: Server, count: int, first_angle: int) -> tuple[float, list, bool]:
    """Peak tree RSS while `count` different slow renditions are asked at once; /healthz polled throughout."""
    peak, healthy = tree_rss_mib(srv.process.pid), True
    with concurrent.futures.ThreadPoolExecutor(count) as executor:
        futures = [executor.submit(process, srv, "big.png", f"image/rotate,{first_angle + i}/format,png")
                   for i in range(count)]
        while not all(f.done() for f in futures):
            started = time.monotonic()
            healthy &= srv.get("/healthz").status_code == 200 and time.monotonic() - started < 1.0
            peak = max(peak, tree_rss_mib(srv.process.pid))
            time.sleep(0.05)
        return peak, [f.result() for f in futures], healthy


def test_memory_stays_bounded_however_many_jobs_are_refused(tmp_path, samples):
    with pool_server(tmp_path, samples, workers=1, queue=1, job_timeout=60) as srv:
        small_peak, small, healthy_small = burst_peak_rss(srv, 3, 100)
        large_peak, large, healthy_large = burst_peak_rss(srv, 40, 200)
        assert healthy_small and healthy_large
        assert sum(r.status_code == 503 for r in large) >= 37
        # 37 more refused requests cost (almost) nothing: the queue bound, not the burst, sets memory.
        assert large_peak < small_peak * 1.2 + 30, (small_peak, large_peak)


def test_a_worker_serves_after_idling_on_a_channel_numbered_above_1023(samples):
    # A server with over a thousand open connections hands a new worker a channel with a high
    # descriptor number (pass_fds keeps it), and select() cannot watch those.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1500:
        pytest.skip(f"the open-files limit ({hard}) is too low for descriptor 1500")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1501), hard))
    ours, theirs = socket.socketpair()
    high = os.dup2(theirs.fileno(), 1500)
    theirs.close()
    try:
        worker = subprocess.Popen([sys.executable, "-m", "edge.worker", str(high)], pass_fds=(high,), cwd=ROOT)
    finally:
        os.close(high)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        (hello, _), _ = channel.recv_blocking(ours)
        assert hello == "ready"
        time.sleep(KEEP_SECONDS + 0.5)  # past the idle wait, where it gives memory back
        job = RenderJob(Pipeline.parse("image/resize,w_20"), Limits(), str(samples / "photo.jpg"))
        channel.send_blocking(ours, (RenderBatch((job,)), None))  # the job, and no trace context
        item, body = channel.recv_blocking(ours)
        index, status = item.index, item.status
        assert index == 0 and status == "ok"
        assert Image.open(io.BytesIO(body)).size == (20, 15)
        answer, _ = channel.recv_blocking(ours)
        assert answer.error is None and answer.rss > 0
    finally:
        ours.close()
        worker.wait(10)


def test_workers_run_the_servers_own_code_whatever_folder_it_was_started_in(tmp_path, samples):
    # `python -m` puts the current folder first on sys.path: started beside another checkout,
    # workers would import its edge/ and speak another protocol (renditions then never came).
    (tmp_path / "edge").mkdir()
    (tmp_path / "edge" / "__init__.py").write_text("raise SystemExit('not the server code')\n")
    port = free_port()
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'[server]\nport = {port}\nworkers = 1\n[buckets.test]\nsource = "file://{samples}"\n')
    # As the `edge` console script starts: the current folder is not on the server's sys.path.
    command = [sys.executable, "-P", "-c", "import sys; from edge.cli import main; sys.exit(main())",
               "serve", "--config", str(config)]
    server = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/test/photo.jpg",
                                      params={"x-oss-process": "image/resize,w_20"}, timeout=10)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert open_image(answer).size == (20, 15)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
