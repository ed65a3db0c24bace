"""Several instances sharing one Redis make each new rendition once (edge.lease): a burst spread
over three instances, the lease holder SIGKILLed in the middle of its render, a holder too slow
for a waiter, and Redis down or hung (one render per instance, never an error)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from conftest import Server, free_port, nginx_running, render_deploy_template, start_redis

SLOW = "image/resize,w_{width}/blur,r_20,s_20"  # ~1.5 s on one core: long enough to act during it


class Fleet:
    """`count` edge instances (one worker each) sharing the bucket folder `samples` and `redis_url`."""

    def __init__(self, tmp: Path, samples: Path, redis_url: str, count: int = 3, cache: str = "") -> None:
        self.tmp = tmp
        self.toml = f"""
[server]
port = {{port}}
workers = 1
queue = 64
job_timeout = 30

[cache]
memory_bytes = 67108864
redis_url = "{redis_url}"
lease_seconds = 1
{cache}

[buckets.test]
source = "file://{samples}"
"""
        with ThreadPoolExecutor(count) as pool:
            self.servers = list(pool.map(lambda i: Server(tmp, self.toml, name=f"fleet{i}"), range(count)))

    def renders(self, servers: list[Server] | None = None) -> float:
        return sum(server.metric("edge_renders_total") for server in servers or self.servers)

    def flights(self, outcome: str, servers: list[Server] | None = None) -> float:
        return sum(server.metric("edge_fleet_flights_total", outcome=outcome) for server in servers or self.servers)

    def balancer(self, folder: Path) -> tuple[Path, int]:
        """deploy/nginx/edge-fleet.conf rendered into `folder` for these instances: (its path, its port)."""
        servers = folder / "fleet-servers.conf"
        servers.write_text("".join(f"server 127.0.0.1:{s.port} max_fails=1 fail_timeout=10s;\n" for s in self.servers))
        port = free_port()
        conf = render_deploy_template("nginx/edge-fleet.conf", folder, EDGE_FLEET_LISTEN=f"127.0.0.1:{port}",
                                      EDGE_FLEET_SERVERS=str(servers))
        return conf, port

    def replace(self, dead: Server) -> None:
        """A new instance in the place of `dead` (killed)."""
        dead.stop()
        self.servers[self.servers.index(dead)] = Server(self.tmp, self.toml, name="fleet-new")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A redis-server of this module alone (its last tests stop it): (process, URL)."""
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield process, url
    process.send_signal(signal.SIGCONT)  # a stopped process does not act on SIGTERM
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, samples, redis_server):
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), samples, redis_server[1])
    yield fleet
    fleet.stop()


def burst(urls: list[str], headers: dict | None = None) -> list[requests.Response]:
    """GET every URL at once (threads released together); the answers in order."""
    start = threading.Barrier(len(urls))

    def get(url: str) -> requests.Response:
        start.wait()
        return requests.get(url, headers=headers or {}, timeout=60)

    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(get, urls))


def spread(servers: list[Server], path: str, count: int) -> list[str]:
    return [servers[i % len(servers)].url(path) for i in range(count)]


def assert_one_answer(answers: list[requests.Response]) -> None:
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text[:200] for a in answers]
    assert len({a.headers["ETag"] for a in answers}) == 1
    assert len({a.content for a in answers}) == 1


def test_a_burst_over_three_instances_is_rendered_once(fleet):
    """The first test of the module: the fleet has rendered nothing yet."""
    answers = burst(spread(fleet.servers, "/test/big.png?x-oss-process=image/resize,w_1200", 40))
    assert_one_answer(answers)
    assert fleet.renders() == 1
    assert fleet.flights("made") == 1
    # The other instances took it from Redis: each of them once, for its local waiters.
    assert fleet.flights("taken") == 2
    # Asked again, every instance answers from its own memory.
    again = [server.get("/test/big.png?x-oss-process=image/resize,w_1200") for server in fleet.servers]
    assert {a.headers["X-Cache"] for a in again} == {"HIT"} and fleet.renders() == 1


def test_the_balancer_sends_one_url_to_one_instance_and_urls_to_all(fleet, tmp_path):
    """deploy/nginx/edge-fleet.conf's `hash $request_uri consistent` over the three instances."""
    conf, port = fleet.balancer(tmp_path)
    served = [server.metric("edge_requests_total", dialect="oss") for server in fleet.servers]
    with nginx_running(tmp_path, [conf], [port]):
        for width in range(200, 230):
            for _ in range(2):
                url = f"http://127.0.0.1:{port}/test/photo.jpg?x-oss-process=image/resize,w_{width}"
                assert requests.get(url, timeout=30).status_code == 200
    counts = [server.metric("edge_requests_total", dialect="oss") - was for server, was in zip(fleet.servers, served)]
    assert sum(counts) == 60 and min(counts) >= 4  # every instance got a share (an even one is 20)
    assert all(count % 2 == 0 for count in counts)  # both asks of a URL went to the same instance


def test_the_cache_in_front_of_the_balancer_in_one_nginx(fleet, tmp_path):
    """docs/deploy.md's set-up without a CDN: edge-cache.conf proxying to edge-fleet.conf's
    upstream in the same nginx."""
    fleet_conf, fleet_port = fleet.balancer(tmp_path)
    cache_port = free_port()
    cache_conf = render_deploy_template("nginx/edge-cache.conf", tmp_path, EDGE_CACHE_LISTEN=f"127.0.0.1:{cache_port}",
                                        EDGE_CACHE_PATH=str(tmp_path / "cache"), EDGE_CACHE_UPSTREAM="edge_fleet")
    path = "/test/photo.jpg?x-oss-process=image/resize,w_233"
    with nginx_running(tmp_path, [fleet_conf, cache_conf], [fleet_port, cache_port]):
        answers = [requests.get(f"http://127.0.0.1:{cache_port}{path}", timeout=30) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert [a.headers["X-Cache"] for a in answers] == ["MISS", "HIT", "HIT"]
    assert len({a.content for a in answers}) == 1


def test_the_lease_holder_killed_mid_render_costs_no_request_and_at_most_two_renders(fleet, redis_server,
                                                                                     tmp_path):
    """Through the fleet's load balancer from deploy/nginx (hash $request_uri consistent), as
    operators run it: the requests the balancer sent to the dead holder go to another instance."""
    path = "/test/big.png?x-oss-process=" + SLOW.format(width=3001)
    folder = tmp_path / "nginx"
    folder.mkdir()
    conf, port = fleet.balancer(folder)
    client = redis.Redis.from_url(redis_server[1])
    renders_before = {server: server.metric("edge_renders_total") for server in fleet.servers}
    with nginx_running(folder, [conf], [port]), ThreadPoolExecutor(40) as pool:
        first = pool.submit(requests.get, f"http://127.0.0.1:{port}{path}", timeout=60)
        deadline = time.monotonic() + 10
        while not client.keys("edge:lease:*"):
            assert time.monotonic() < deadline, "no instance took the lease"
            time.sleep(0.01)
        (lease,) = client.keys("edge:lease:*")
        holder_pid = int(client.get(lease).decode().split(":")[1])
        (holder,) = [s for s in fleet.servers if s.process.pid == holder_pid]
        others = [s for s in fleet.servers if s is not holder]
        urls = [f"http://127.0.0.1:{port}{path}"] * 19 + spread(others, path, 20)
        rest = [pool.submit(requests.get, url, timeout=60) for url in urls]
        time.sleep(0.3)
        digest = lease.decode().removeprefix("edge:lease:")
        assert not client.exists(f"edge:r:{digest}"), "the render finished before the kill: the test proves nothing"
        os.killpg(holder.process.pid, signal.SIGKILL)
        try:
            answers = [first.result()] + [future.result() for future in rest]
        finally:
            fleet.replace(holder)  # the module's other tests need three instances
    assert_one_answer(answers)
    # The holder's render died with it; one of the others took the lease over once it expired.
    assert fleet.renders(others) - sum(renders_before[server] for server in others) == 1
    assert fleet.flights("takeover", others) == 1


def test_a_waiter_that_waits_too_long_renders_itself(tmp_path, samples, redis_server):
    fleet = Fleet(tmp_path, samples, redis_server[1], count=2, cache="lease_wait_seconds = 0.3")
    try:
        path = "/test/big.png?x-oss-process=image/resize,w_2002"
        slow, late = fleet.servers
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(slow.get, path)
            time.sleep(0.2)
            second = pool.submit(late.get, path)
            answers = [first.result(), second.result()]
        assert_one_answer(answers)
        assert fleet.renders() == 2
        assert fleet.flights("waited_out") == 1
    finally:
        fleet.stop()


def test_a_rendition_that_fails_runs_one_job_in_the_fleet(fleet):
    """A lasting failure (here an image that does not decode) is published with the lease's end:
    the waiters answer the same error instead of running the job again."""
    jobs = sum(server.metric("edge_jobs_total") for server in fleet.servers)
    answers = burst(spread(fleet.servers, "/test/garbage.png?x-oss-process=image/resize,w_50", 30))
    assert {a.status_code for a in answers} == {400}
    assert len({re.search(r"<Code>(\w+)</Code>", a.text)[1] for a in answers}) == 1
    assert sum(server.metric("edge_jobs_total") for server in fleet.servers) - jobs == 1


def test_a_srcset_round_robin_over_three_instances_is_one_render_per_rendition(fleet):
    """Six widths of five sources, each asked of every instance at about the same time (a load
    balancer without URL hashing and no CDN in front): one render per rendition."""
    renditions = [f"/test/{key}?x-oss-process=image/resize,w_{width}"
                  for key in ("photo.jpg", "small.jpg", "quadrants.png", "alpha.png", "exif6.jpg")
                  for width in range(60, 120, 10)]
    renders = fleet.renders()
    urls = [server.url(path) for path in renditions for server in fleet.servers]
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda url: requests.get(url, timeout=60), urls))
    assert {a.status_code for a in answers} == {200}
    for i in range(0, len(answers), 3):
        assert len({a.headers["ETag"] for a in answers[i:i + 3]}) == 1
    assert fleet.renders() - renders == len(renditions) == 30


@pytest.mark.parametrize("fault, width", [("hung", 1201), ("stopped", 1202)])  # hung first: it ends
def test_redis_down_means_one_render_per_instance_and_no_error(fleet, redis_server, fault, width):
    process = redis_server[0]
    if fault == "stopped":
        process.terminate()
        process.wait(10)
    else:
        process.send_signal(signal.SIGSTOP)
    before = [server.metric("edge_renders_total") for server in fleet.servers]
    try:
        answers = burst(spread(fleet.servers, f"/test/big.png?x-oss-process=image/resize,w_{width}", 40))
    finally:
        process.send_signal(signal.SIGCONT)
    assert_one_answer(answers)
    made = [server.metric("edge_renders_total") - was for server, was in zip(fleet.servers, before)]
    assert all(count <= 1 for count in made) and sum(made) >= 1



@pytest.mark.parametrize("published, expected", [
    (b'["InvalidArgument", "resize: w must be 1..16384"]', ("InvalidArgument", "resize: w must be 1..16384")),
    (b'["ProcessTimeout", "the job ran past 30 s"]', ("ProcessTimeout", "the job ran past 30 s")),
    (b"not json", None), (b'["InvalidArgument"]', None), (b'[1, 2]', None), (b'["escape", "x"]', None),
    (b'["Rendition", "x"]', None), (None, None),
])
def test_a_published_failure_is_rebuilt_only_as_an_oss_error(published, expected):
    """What another instance (or anything else) wrote under edge:fail: is trusted only as far as
    naming an OSS error; anything else counts as nothing published, so this instance renders."""
    from edge.lease import _failure

    failure = _failure(published)
    assert (failure if failure is None else (failure.code, failure.message)) == expected
