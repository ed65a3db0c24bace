"""Soak: the memory of the server and its workers stays flat under minutes of cache-miss renders.

EDGE_SOAK_SECONDS (default 300) sets the length; `pytest -m slow -k soak` runs it.
"""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest
from PIL import Image

from conftest import Server
from proctree import memory_kib, tree

SOURCES = 4
CONNECTIONS = 4  # as W1 in benchmarks/: one request in flight per core, plus one queued each
SAMPLE_SECONDS = 2.0


def photo(seed: int, width: int = 4000, height: int = 3000) -> Image.Image:
    """Smooth colour fields under fine noise: JPEG-decodes about as slowly as a photo."""
    fields = [Image.linear_gradient("L").rotate(seed * 40 + band * 70).resize((width, height)) for band in range(3)]
    noise = Image.effect_noise((width, height), 40 + seed * 5).convert("RGB")
    return Image.blend(Image.merge("RGB", fields), noise, 0.25)


async def soak(srv: Server, seconds: float) -> tuple[list[tuple[float, int, int]], dict[int, int], list[str]]:
    """Renders of distinct URLs from CONNECTIONS clients for `seconds`, memory sampled meanwhile.

    Returns the samples (seconds since the start, RSS KiB, PSS KiB), the count of answers by
    status, and the errors of requests that got no answer.
    """
    samples: list[tuple[float, int, int]] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    started = time.monotonic()
    deadline = started + seconds
    counter = iter(range(10**9))

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            # Every URL in flight differs (no coalescing) and the cache is off: each is a render.
            url = srv.url(f"/soak/src{n % SOURCES}.jpg?x-oss-process=image/resize,w_{240 + n % 160}"
                          "/quality,Q_80/format,jpg")
            try:
                async with session.get(url) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                errors.append(f"{url}: {exc!r}")

    async def sampler() -> None:
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - started, *memory_kib(tree([srv.process.pid]))))
            await asyncio.sleep(SAMPLE_SECONDS)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:
        await asyncio.gather(sampler(), *(client(session) for _ in range(CONNECTIONS)))
    return samples, statuses, errors


@pytest.mark.slow
def test_memory_stays_flat_under_minutes_of_renders(tmp_path, capsys):
    seconds = float(os.environ.get("EDGE_SOAK_SECONDS", "300"))
    warmup = min(30.0, seconds / 6)
    window = min(60.0, (seconds - warmup) / 2)  # first and last minute after the warm-up
    bucket = tmp_path / "soak"
    bucket.mkdir()
    for seed in range(SOURCES):
        photo(seed).save(bucket / f"src{seed}.jpg", quality=90)
    # Cache off, so every request renders; recycling off, so a leak in a worker shows instead of
    # being reset every worker_max_jobs jobs.
    srv = Server(tmp_path, f"""
[server]
host = "127.0.0.1"
port = {{port}}
workers = 2
queue = 64
worker_max_jobs = 0
worker_max_rss_mb = 0

[cache]
memory_bytes = 0

[buckets.soak]
source = "file://{bucket}"
""", name="soak")
    try:
        samples, statuses, errors = asyncio.run(soak(srv, seconds))
    finally:
        srv.stop()

    first = [s for s in samples if warmup <= s[0] < warmup + window]
    last = [s for s in samples if s[0] >= seconds - window]
    first_rss, last_rss = max(s[1] for s in first), max(s[1] for s in last)
    first_pss, last_pss = max(s[2] for s in first), max(s[2] for s in last)
    answered = sum(statuses.values())
    with capsys.disabled():
        print(f"\nsoak {seconds:.0f} s: {answered} renders ({answered / seconds:.1f}/s), statuses {statuses}, "
              f"{len(errors)} unanswered; peak RSS first {window:.0f} s after {warmup:.0f} s warm-up "
              f"{first_rss / 1024:.1f} MiB, last {window:.0f} s {last_rss / 1024:.1f} MiB "
              f"(x{last_rss / first_rss:.3f}); PSS {first_pss / 1024:.1f} -> {last_pss / 1024:.1f} MiB "
              f"(x{last_pss / first_pss:.3f}); overall peak RSS {max(s[1] for s in samples) / 1024:.1f} MiB")
    assert not errors, errors[:3]
    assert set(statuses) == {200}, statuses
    assert last_rss <= first_rss * 1.10, (first_rss, last_rss)
