"""The rendition cache: single-flight, disk across restarts, Redis across instances, budgets, revalidation."""

import concurrent.futures
import os
import time

import pytest
import requests

from conftest import Server, open_image, process
from edge.demo import landscape


def cache_server(tmp_path, samples, cache: str = "", name: str = "cache", extra: str = "") -> Server:
    return Server(tmp_path, f"""
[server]
port = {{port}}
workers = 2
[cache]
{cache}
[buckets.test]
source = "file://{samples}"
{extra}
""", name=name)


def disk_only(disk) -> str:
    """[cache] settings: no memory level, a 100 MB disk level in `disk`."""
    return f'memory_bytes = 0\ndisk_path = "{disk}"\ndisk_bytes = 100000000'


def jobs(srv: Server) -> float:
    return srv.metric("edge_jobs_total", outcome="ok")


def test_fifty_concurrent_requests_for_a_fresh_rendition_run_one_job(tmp_path, samples):
    with cache_server(tmp_path, samples, "memory_bytes = 10000000") as srv:
        url = srv.url("/test/photo.jpg?x-oss-process=image/resize,w_222/rotate,33/format,png")
        with concurrent.futures.ThreadPoolExecutor(50) as executor:
            answers = list(executor.map(lambda _: requests.get(url, timeout=60), range(50)))
        assert all(a.status_code == 200 for a in answers)
        assert len({a.content for a in answers}) == 1
        assert jobs(srv) == 1
        statuses = {a.headers["X-Cache"] for a in answers}
        assert statuses <= {"MISS", "COALESCED", "HIT"} and "MISS" in statuses


def test_a_failure_is_shared_not_retried(tmp_path, samples):
    with cache_server(tmp_path, samples, "memory_bytes = 10000000") as srv:
        url = srv.url("/test/truncated.jpg?x-oss-process=image/resize,w_5")
        with concurrent.futures.ThreadPoolExecutor(20) as executor:
            answers = list(executor.map(lambda _: requests.get(url, timeout=60), range(20)))
        assert all(a.status_code == 400 for a in answers)
        assert srv.metric("edge_jobs_total", outcome="error") == 1
        assert process(srv, "truncated.jpg", "image/resize,w_5").status_code == 400
        assert srv.metric("edge_jobs_total", outcome="error") == 1  # remembered, not decoded again


def test_a_restart_serves_from_the_disk_cache_without_a_job(tmp_path, samples):
    disk = tmp_path / "disk-cache"
    settings = disk_only(disk)
    with cache_server(tmp_path, samples, settings, name="disk1") as first:
        made = process(first, "photo.jpg", "image/resize,w_141/format,webp")
        assert made.headers["X-Cache"] == "MISS"
    with cache_server(tmp_path, samples, settings, name="disk2") as second:
        again = process(second, "photo.jpg", "image/resize,w_141/format,webp")
        assert again.headers["X-Cache"] == "HIT-DISK"
        assert again.content == made.content and again.headers["ETag"] == made.headers["ETag"]
        assert jobs(second) == 0


def test_torn_and_leftover_disk_entries_are_never_served(tmp_path, samples):
    disk = tmp_path / "disk-cache"
    settings = disk_only(disk)
    with cache_server(tmp_path, samples, settings, name="torn1") as srv:
        good = process(srv, "photo.jpg", "image/resize,w_99")
    [entry] = [p for p in disk.rglob("*") if p.is_file()]
    entry.write_bytes(entry.read_bytes()[:-10])          # torn: shorter than its header says
    (entry.parent / "leftover.1.2.tmp").write_bytes(b"half")  # a write a crash interrupted
    with cache_server(tmp_path, samples, settings, name="torn2") as srv:
        assert not (entry.parent / "leftover.1.2.tmp").exists()
        again = process(srv, "photo.jpg", "image/resize,w_99")
        assert again.headers["X-Cache"] == "MISS" and again.content == good.content


def test_two_servers_share_renditions_through_redis(tmp_path, samples, redis_url):
    settings = f'memory_bytes = 1000000\nredis_url = "{redis_url}"'
    with (cache_server(tmp_path, samples, settings, name="redis1") as one,
          cache_server(tmp_path, samples, settings, name="redis2") as two):
        made = process(one, "quadrants.png", "image/resize,w_123/format,jpg")
        assert made.headers["X-Cache"] == "MISS"
        shared = process(two, "quadrants.png", "image/resize,w_123/format,jpg")
        assert shared.headers["X-Cache"] == "HIT-REDIS"
        assert shared.content == made.content
        assert jobs(two) == 0
        assert process(two, "quadrants.png", "image/resize,w_123/format,jpg").headers["X-Cache"] == "HIT"


def test_an_unreachable_redis_costs_a_miss_not_an_error(tmp_path, samples):
    from conftest import free_port

    with cache_server(tmp_path, samples, f'memory_bytes = 0\nredis_url = "redis://127.0.0.1:{free_port()}/0"',
                      name="noredis") as srv:
        assert open_image(process(srv, "photo.jpg", "image/resize,w_31")).size == (31, 23)


def test_a_replaced_source_gets_a_new_rendition_and_etag(tmp_path, samples):
    folder = tmp_path / "bucket"
    folder.mkdir()
    landscape(300, 200, seed=1).save(folder / "swap.jpg")
    with Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[buckets.test]
source = "file://{folder}"
""", name="swap") as srv:
        before = process(srv, "swap.jpg", "image/resize,w_100")
        assert process(srv, "swap.jpg", "image/resize,w_100").headers["X-Cache"] == "HIT"
        landscape(600, 300, seed=2).save(folder / "swap.tmp.jpg")
        os.replace(folder / "swap.tmp.jpg", folder / "swap.jpg")
        after = process(srv, "swap.jpg", "image/resize,w_100")
        assert after.headers["X-Cache"] == "MISS"
        assert after.headers["ETag"] != before.headers["ETag"]
        assert open_image(after).size == (100, 50) and open_image(before).size == (100, 67)


def test_an_upstream_source_is_revalidated_after_the_interval(tmp_path, samples, nginx):
    srv = Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
[cache]
revalidate_seconds = 1
[buckets.web]
source = "{nginx}/"
""", name="revalidate")
    target = samples / "revalidate.jpg"
    try:
        landscape(300, 200, seed=3).save(target)
        before = process(srv, "revalidate.jpg", "image/resize,w_100", bucket="web")
        landscape(200, 200, seed=4).save(target.with_suffix(".new"), "JPEG")
        os.replace(target.with_suffix(".new"), target)
        stale = process(srv, "revalidate.jpg", "image/resize,w_100", bucket="web")
        assert stale.headers["ETag"] == before.headers["ETag"]  # within the interval: trusted
        time.sleep(1.2)
        fresh = process(srv, "revalidate.jpg", "image/resize,w_100", bucket="web")
        assert fresh.headers["ETag"] != before.headers["ETag"]
        assert open_image(fresh).size == (100, 100)
    finally:
        srv.stop()
        target.unlink(missing_ok=True)


@pytest.mark.parametrize("level, settings", [
    ("memory", "memory_bytes = 60000"),
    ("disk", 'memory_bytes = 0\ndisk_path = "{disk}"\ndisk_bytes = 60000'),
])
def test_the_byte_budget_is_respected(tmp_path, samples, level, settings):
    disk = tmp_path / "budget-cache"
    with cache_server(tmp_path, samples, settings.format(disk=disk), name=f"budget-{level}") as srv:
        total = 0
        for width in range(100, 140):
            total += len(process(srv, "photo.jpg", f"image/resize,w_{width}/format,png").content)
        assert total > 3 * 60000
        held = srv.metric("edge_cache_bytes", level=level)
        assert 0 < held <= 60000
        if level == "disk":
            assert sum(p.stat().st_size for p in disk.rglob("*") if p.is_file()) <= 60000
        # The most recent rendition is still there.
        assert process(srv, "photo.jpg", "image/resize,w_139/format,png").headers["X-Cache"].startswith("HIT")


def test_filling_past_the_memory_budget_keeps_the_server_rss_bounded(tmp_path, samples):
    from test_pool import tree_rss_mib

    with cache_server(tmp_path, samples, "memory_bytes = 5000000", name="rss-budget") as srv:
        process(srv, "photo.jpg", "image/resize,w_10/format,bmp")
        before = tree_rss_mib(srv.process.pid)
        total = sum(len(process(srv, "photo.jpg", f"image/resize,w_{w},limit_0/format,bmp").content)
                    for w in range(1000, 1100))
        assert total > 200 << 20  # forty times the budget went through the cache
        assert srv.metric("edge_cache_bytes", level="memory") <= 5000000
        assert tree_rss_mib(srv.process.pid) - before < 5 + 40  # the budget plus allocator slack, in MiB
