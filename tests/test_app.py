"""The application in-process (pytest-aiohttp's aiohttp_client): routing, headers, error bodies, and its
resources opened one by one. The worker pool is real (one worker); no `edge serve` process is started."""

import re

import pytest
from aiohttp import web

from edge.app import make_app
from edge.cache import RenditionCache
from edge.config import load
from edge.origin import ORIGIN
from edge.pool import WorkerPool


@pytest.fixture
def config(samples):
    return load(environ={}, overrides={"server": {"workers": 1, "port": 0},
                                       "cache": {"memory_bytes": 1 << 24},
                                       "buckets": {"test": {"source": f"file://{samples}"}}})


@pytest.fixture
async def client(aiohttp_client, config):
    return await aiohttp_client(make_app(config))


def error_of(body: str) -> tuple[str, str]:
    """(Code, Message) of an OSS XML error body."""
    return (re.search(r"<Code>(.*)</Code>", body).group(1), re.search(r"<Message>(.*)</Message>", body, re.S).group(1))


async def test_a_rendition_answers_with_its_headers(client):
    answer = await client.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_100/format,png"})
    assert answer.status == 200 and answer.headers["Content-Type"] == "image/png"
    assert answer.headers["ETag"].startswith('"') and re.fullmatch(r"[0-9A-F]{24}", answer.headers["x-oss-request-id"])
    assert (await answer.read())[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_missing_key_is_an_oss_404_with_a_request_id(client):
    answer = await client.get("/test/nothing-here.jpg")
    assert answer.status == 404 and answer.headers["Content-Type"].startswith("application/xml")
    assert error_of(await answer.text())[0] == "NoSuchKey"
    assert answer.headers["x-oss-request-id"] in await answer.text()


async def test_a_bad_parameter_is_a_400_naming_it(client):
    answer = await client.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_0"})
    assert answer.status == 400
    assert error_of(await answer.text()) == ("InvalidArgument", "resize: w must be in [1, 16384], got 0")


async def test_an_unknown_action_is_a_400_naming_it(client):
    answer = await client.get("/test/photo.jpg", params={"x-oss-process": "image/frobnicate,1"})
    assert answer.status == 400 and "unknown image action 'frobnicate'" in error_of(await answer.text())[1]


async def test_health_and_metrics_routes(client):
    assert (await client.get("/healthz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert "edge_requests_total" in metrics


async def test_a_pool_that_fails_to_start_closes_the_session_and_the_cache(config, monkeypatch):
    closed = []

    async def refuse(self):
        raise RuntimeError("no worker could start")

    async def close_cache(self):
        closed.append("cache")

    monkeypatch.setattr(WorkerPool, "start", refuse)
    monkeypatch.setattr(RenditionCache, "close", close_cache)
    app = make_app(config)
    runner = web.AppRunner(app)  # as edge.serving runs the application
    with pytest.raises(RuntimeError, match="no worker could start"):
        try:
            await runner.setup()
        finally:
            await runner.cleanup()
    assert closed == ["cache"] and app[ORIGIN].session.closed

