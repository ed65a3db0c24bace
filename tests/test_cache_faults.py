"""Faults of the shared caches: a hung Redis (real SIGSTOP of a real redis-server) and a disk
cache on a read-only or full file system (a real tmpfs, remounted read-only or filled by another
writer). The service degrades, says so in /readyz and /metrics, and logs a bounded number of lines.
"""

import concurrent.futures
import json
import logging
import re
import signal
import shutil
import subprocess
import time
from contextlib import contextmanager

import pytest
import requests

from conftest import Server, process, redis_running
from edge.log_throttle import LogThrottle
from test_cache import cache_server, jobs


def warnings(srv: Server) -> list[str]:
    return [line for line in srv.logs().splitlines() if " WARNING " in line or " ERROR " in line]


def readiness(srv: Server) -> tuple[int, dict]:
    answer = srv.get("/readyz")
    return answer.status_code, json.loads(answer.text)


@contextmanager
def redis_server(tmp_path):
    """A redis-server of this test alone, so that stopping it disturbs no other test: (process, URL)."""
    folder = tmp_path / "redis"
    folder.mkdir()
    with redis_running(folder) as (redis, url):
        yield redis, url


@contextmanager
def tmpfs(path, size: str):
    """A real tmpfs of `size` mounted at `path` (root and mount(2) needed, else the test is skipped)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill(folder) -> None:
    """Write into `folder` until its file system answers ENOSPC, as another program would."""
    with open(folder / "someone-else", "wb", buffering=0) as filler:  # unbuffered: nothing left to flush
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    filler.write(b"\0" * chunk)
            except OSError:
                pass


def by_age(folder) -> list:
    """The files under `folder`, oldest first."""
    return sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda path: path.stat().st_mtime_ns)


def test_the_log_throttle_writes_one_line_per_interval_and_every_change_of_state(caplog):
    now = [0.0]
    throttle = LogThrottle(logging.getLogger("edge.test"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "edge.test"):
        for _ in range(100):
            throttle.log("disk", logging.WARNING, "write failed: %s", "EIO")
        now[0] = 61
        throttle.log("disk", logging.WARNING, "write failed: %s", "EIO")
        throttle.log("redis", logging.WARNING, "circuit open", state="open")
        throttle.log("redis", logging.WARNING, "circuit open", state="open")
        throttle.log("redis", logging.INFO, "circuit closed", state="closed")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["write failed: EIO", "write failed: EIO (99 more like this in 61 s)",
                     "circuit open", "circuit closed"]


def test_a_hung_redis_is_skipped_after_a_few_requests_and_readyz_says_degraded(tmp_path, samples):
    with redis_server(tmp_path) as (redis, url):
        with cache_server(tmp_path, samples, f'memory_bytes = 0\nredis_url = "{url}"', name="hung") as srv:
            assert process(srv, "small.jpg", "image/resize,w_60").headers["X-Cache"] == "MISS"
            assert process(srv, "small.jpg", "image/resize,w_60").headers["X-Cache"] == "HIT-REDIS"
            redis.send_signal(signal.SIGSTOP)

            def timed(width: int) -> float:
                started = time.monotonic()
                answer = requests.get(srv.url(f"/test/small.jpg?x-oss-process=image/resize,w_{width}"), timeout=30)
                assert answer.status_code == 200
                return time.monotonic() - started

            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                seconds = list(pool.map(timed, [60 + i % 10 for i in range(80)]))
            took = time.monotonic() - started
            slow = [s for s in seconds if s > 0.3]
            assert len(slow) <= 10, f"{len(slow)} of 80 requests waited for the hung Redis"
            assert took < 8
            status, body = readiness(srv)
            assert status == 200 and body["status"] == "degraded"
            assert any(p.startswith("redis: circuit open since") for p in body["problems"])
            assert srv.metric("edge_breaker_state", dependency="redis") == 1
            assert srv.metric("edge_breaker_opens_total", dependency="redis") == 1
            assert srv.metric("edge_breaker_refused_total", dependency="redis") >= 60
            assert len(warnings(srv)) <= 3, "\n".join(warnings(srv))

            redis.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 10  # a probe runs at least every back-off cap
            while readiness(srv)[1]["status"] != "ready" and time.monotonic() < deadline:
                time.sleep(0.2)
            status, body = readiness(srv)
            assert status == 200 and body["status"] == "ready" and body["problems"] == []
            assert srv.metric("edge_breaker_state", dependency="redis") == 0
            assert process(srv, "small.jpg", "image/resize,w_60").headers["X-Cache"] == "HIT-REDIS"
            assert any("redis: circuit closed" in line for line in srv.logs().splitlines())


def assert_disk_degraded(srv: Server, state: str) -> None:
    """/readyz is 200 "degraded" naming the disk cache's `state` ("read_only", "full"), the metric
    says so, and the fault cost at most two warning lines."""
    status, body = readiness(srv)
    assert status == 200 and body["status"] == "degraded"
    assert any(p.startswith(f"disk cache: {state.replace('_', '-')}") for p in body["problems"])
    assert srv.metric("edge_disk_cache_state", state=state) == 1
    assert len(warnings(srv)) <= 2, "\n".join(warnings(srv))


def test_a_read_only_disk_still_serves_its_hits_and_stops_writing(tmp_path, samples):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        settings = f'memory_bytes = 0\ndisk_path = "{disk}/cache"\ndisk_bytes = 100000000'
        srv = cache_server(tmp_path, samples, settings, name="read-only")
        try:
            made = process(srv, "photo.jpg", "image/resize,w_101")
            assert made.headers["X-Cache"] == "MISS"
            remount(disk, "ro")
            for _ in range(3):
                hit = process(srv, "photo.jpg", "image/resize,w_101")
                assert hit.headers["X-Cache"] == "HIT-DISK" and hit.content == made.content
            assert jobs(srv) == 1
            for width in range(102, 142):  # new renditions: made and served, not stored
                assert process(srv, "photo.jpg", f"image/resize,w_{width}").status_code == 200
            assert process(srv, "photo.jpg", "image/resize,w_101").headers["X-Cache"] == "HIT-DISK"
            assert_disk_degraded(srv, "read_only")
        finally:
            srv.stop()
            remount(disk, "rw")


def test_a_disk_filled_by_someone_else_is_trimmed_and_writes_back_off(tmp_path, samples):
    with tmpfs(tmp_path / "disk", "2m") as disk:
        settings = f'memory_bytes = 0\ndisk_path = "{disk}/cache"\ndisk_bytes = 100000000'
        with cache_server(tmp_path, samples, settings, name="full") as srv:
            for width in (300, 301, 302, 303):  # ~200 kB each
                assert process(srv, "photo.jpg", f"image/resize,w_{width}/format,bmp").headers["X-Cache"] == "MISS"
            oldest, *kept = by_age(disk / "cache")
            fill(disk)
            assert shutil.disk_usage(disk).free < 4096
            for width in range(310, 340):
                assert process(srv, "photo.jpg", f"image/resize,w_{width}/format,bmp").status_code == 200
            assert not oldest.exists(), "the oldest entry was not trimmed"
            assert all(path.exists() for path in kept)
            assert shutil.disk_usage(disk).free >= 0.05 * 2 * 2**20
            hit = process(srv, "photo.jpg", "image/resize,w_303/format,bmp")
            assert hit.headers["X-Cache"] == "HIT-DISK"
            assert_disk_degraded(srv, "full")


@pytest.mark.slow
def test_a_disk_cache_writes_again_once_its_file_system_is_writable_and_has_room(tmp_path, samples):
    from edge.cache_disk import PAUSE_SECONDS

    with tmpfs(tmp_path / "disk", "2m") as disk:
        settings = f'memory_bytes = 0\ndisk_path = "{disk}/cache"\ndisk_bytes = 100000000'
        srv = cache_server(tmp_path, samples, settings, name="recover")
        try:
            process(srv, "photo.jpg", "image/resize,w_101")
            remount(disk, "ro")
            process(srv, "photo.jpg", "image/resize,w_102")
            assert readiness(srv)[1]["status"] == "degraded"
            remount(disk, "rw")
            time.sleep(PAUSE_SECONDS + 0.5)
            process(srv, "photo.jpg", "image/resize,w_103")
            assert process(srv, "photo.jpg", "image/resize,w_103").headers["X-Cache"] == "HIT-DISK"
            assert readiness(srv)[1]["status"] == "ready"

            fill(disk)
            process(srv, "photo.jpg", "image/resize,w_300/format,bmp")
            assert readiness(srv)[1]["status"] == "degraded"
            (disk / "someone-else").unlink()
            time.sleep(PAUSE_SECONDS + 0.5)
            process(srv, "photo.jpg", "image/resize,w_301/format,bmp")
            assert process(srv, "photo.jpg", "image/resize,w_301/format,bmp").headers["X-Cache"] == "HIT-DISK"
            assert readiness(srv)[1]["status"] == "ready"
            logged = "\n".join(warnings(srv))
            assert "read-only" in logged and "full" in logged and len(warnings(srv)) <= 4, logged
        finally:
            srv.stop()
            remount(disk, "rw")


def wrk(url: str, paths: list[str], seconds: int, tmp_path) -> tuple[float, float]:
    """(requests per second, p99 latency in seconds) of `wrk -c16` cycling over `paths`."""
    script = tmp_path / "paths.lua"
    script.write_text("local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\nlocal i = 0\n"
                      "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[i % #paths + 1])\nend\n")
    done = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script),
                           url], capture_output=True, text=True, check=True, timeout=seconds + 30)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", done.stdout).groups()
    assert "Non-2xx" not in done.stdout, done.stdout
    return rate, float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def answers(srv: Server, le: str = "+Inf") -> float:
    """Rendition answers the server gave so far, or those that took at most `le` seconds."""
    return srv.metric("edge_request_seconds_bucket", kind="rendition", le=le)


@pytest.mark.slow
def test_a_redis_hung_for_15_s_under_load_keeps_at_least_half_the_throughput_of_no_redis(tmp_path, samples):
    if shutil.which("wrk") is None:  # not a skip: ./setup.sh installs it
        pytest.fail("wrk is not installed: run ./setup.sh (it installs Debian's wrk)", pytrace=False)
    paths = [f"/test/small.jpg?x-oss-process=image/resize,w_{w}" for w in range(40, 56)]
    with redis_server(tmp_path) as (redis, url):
        shared = cache_server(tmp_path, samples, f'memory_bytes = 0\nredis_url = "{url}"', name="with-redis")
        alone = cache_server(tmp_path, samples, "memory_bytes = 0", name="no-redis")
        try:
            for path in paths:
                assert shared.get(path).status_code == alone.get(path).status_code == 200
            healthy, _ = wrk(shared.url("/"), paths, 5, tmp_path)
            baseline, baseline_p99 = wrk(alone.url("/"), paths, 15, tmp_path)
            before = len(warnings(shared)), answers(shared), answers(shared, le="0.25")
            redis.send_signal(signal.SIGSTOP)
            hung, hung_p99 = wrk(shared.url("/"), paths, 15, tmp_path)
            logged = len(warnings(shared)) - before[0]
            total, fast = answers(shared) - before[1], answers(shared, le="0.25") - before[2]
            degraded = readiness(shared)[1]["status"]
            # wrk's p99 adds made-up samples after a stall (its coordinated-omission correction):
            # the server's own histogram says how many answers really waited.
            print(f"\nRedis healthy: {healthy:.0f} req/s; no Redis: {baseline:.0f} req/s (p99 {baseline_p99:.3f} s); "
                  f"Redis hung (SIGSTOP): {hung:.0f} req/s (wrk p99 {hung_p99:.3f} s; {total - fast:.0f} of "
                  f"{total:.0f} answers over 0.25 s), ratio {hung / baseline:.2f}; {logged} warning lines in 15 s; "
                  f"/readyz {degraded}")
            assert hung >= 0.5 * baseline
            assert total - fast <= 32  # the calls in flight when Redis stopped, twice over
            assert logged <= 5
            assert degraded == "degraded"
        finally:
            redis.send_signal(signal.SIGCONT)
            shared.stop()
            alone.stop()
