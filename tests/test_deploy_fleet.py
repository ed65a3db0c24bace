"""deploy/nginx/edge-fleet.conf.template, rendered as docs/deploy.md says, run by a real nginx over
two edge instances sharing a Redis: a SIGKILL of one instance during 20 s of load loses no
request (slow; tests/test_fleet.py has the quick tests of the balancer)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import nginx_running
from test_fleet import Fleet


@pytest.fixture
def balanced(tmp_path, samples, redis_url):
    """(fleet of two instances, the balancer's base URL)."""
    fleet = Fleet(tmp_path, samples, redis_url, count=2)
    conf, port = fleet.balancer(tmp_path)
    try:
        with nginx_running(tmp_path, [conf], [port]):
            yield fleet, f"http://127.0.0.1:{port}"
    finally:
        fleet.stop()


@pytest.mark.slow
def test_sigkill_of_one_of_two_instances_during_20_s_of_load_loses_no_request(balanced):
    fleet, base = balanced
    statuses: Counter = Counter()
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(client: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            n += 1
            # 80 renditions, new ones first and then again: misses (renders) and hits on both instances.
            url = f"{base}/test/photo.jpg?x-oss-process=image/resize,w_{100 + (client * 7 + n) % 80}"
            try:
                status = session.get(url, timeout=60).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            with lock:
                statuses[status] += 1
                if status != 200:
                    failures.append(f"{url}: {status}")

    with ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(load, client) for client in range(8)]
        time.sleep(7)
        victim = fleet.servers[0]
        victim_served = victim.metric("edge_requests_total", dialect="oss")
        before_kill = sum(statuses.values())
        os.killpg(victim.process.pid, signal.SIGKILL)
        time.sleep(13)
        stop.set()
        for client in clients:
            client.result()
    survivor = fleet.servers[1]
    print(f"answers: {dict(statuses)}; {before_kill} before the kill; survivor served "
          f"{survivor.metric('edge_requests_total', dialect='oss'):.0f}")
    assert failures == []
    assert statuses[200] > before_kill > 50  # load ran on both sides of the kill
    assert victim_served > 0 and survivor.metric("edge_requests_total", dialect="oss") > 0
