"""The circuit breaker says why it refuses a call (open, busy or stalled), and the fleet's lease acts on
the reason: a busy breaker (a burst of calls in flight) is asked again, a stalled one (the oldest call has
waited too long: Redis may have stopped answering) is not, and the instance renders itself at once."""

import asyncio

import pytest

from conftest import start_redis
from edge.breaker import Breaker, Refused
from edge.cache import RenditionCache
from edge.cache_redis import RedisLevel
from edge.lease import FleetFlight
from edge.metrics import Metrics


@pytest.fixture
def redis_url(tmp_path):
    process, url = start_redis(tmp_path)
    yield url
    process.terminate()
    process.wait(10)


async def refusal(breaker: Breaker) -> str:
    with pytest.raises(Refused) as refused:
        await breaker.attempt(lambda: asyncio.sleep(0))
    return refused.value.reason


async def test_a_breaker_says_why_it_refuses_a_call():
    metrics = Metrics()

    async def down():
        raise ConnectionError("the dependency is down")

    breaker = Breaker("dependency", down, (ConnectionError,), metrics, timeout=5, threshold=1, most=2, stall=0.2)
    released = asyncio.Event()
    calls = [asyncio.create_task(breaker.call(released.wait, "missed")) for _ in range(2)]
    await asyncio.sleep(0)
    assert await refusal(breaker) == "busy"  # `most` calls in flight
    assert await breaker.call(lambda: asyncio.sleep(0, "answered"), "missed") == "missed"
    released.set()
    assert await asyncio.gather(*calls) == [True, True]
    released.clear()
    calls = [asyncio.create_task(breaker.call(released.wait, "missed"))]
    await asyncio.sleep(0.25)  # the one call in flight has waited past `stall`
    assert await refusal(breaker) == "stalled"
    released.set()
    assert await asyncio.gather(*calls) == [True]
    assert await breaker.call(lambda: asyncio.sleep(0, "answered"), "missed") == "answered"
    with pytest.raises(ConnectionError):
        await breaker.attempt(down)  # a fault is raised, and opens it (threshold 1)
    assert await refusal(breaker) == "open"
    assert await breaker.call(down, "missed") == "missed"
    await breaker.close()
    counted = {reason: metrics.registry.get_sample_value(
        "edge_breaker_refused_total", {"dependency": "dependency", "reason": reason})
        for reason in ("busy", "stalled", "open")}
    assert counted == {"busy": 2, "stalled": 1, "open": 2}


async def flight_outcome(redis_url: str, holding: int) -> str:
    """What a FleetFlight over a real Redis does while `holding` calls hold their connections
    without an answer for 0.4 s (a BLPOP of an empty list) and have waited past the breaker's stall."""
    metrics = Metrics()
    level = RedisLevel(redis_url, 60, metrics)
    flight = FleetFlight(level, RenditionCache([level], metrics), 5.0, 5.0, metrics)
    await asyncio.gather(*(level.client.ping() for _ in range(holding)))  # connected: no call waits to connect
    held = [asyncio.create_task(level.breaker.call(lambda: level.client.blpop(["empty"], 0.4), "missed"))
            for _ in range(holding)]
    await asyncio.sleep(0.25)

    async def make():
        return "rendition"

    try:
        assert await flight.run("digest", make) == "rendition"
        await asyncio.gather(*held)
        return next(outcome for outcome in ("made", "local", "taken")
                    if metrics.registry.get_sample_value("edge_fleet_flights_total", {"outcome": outcome}))
    finally:
        await level.breaker.close()
        await level.client.aclose()


async def test_a_busy_breaker_is_asked_again_for_the_lease_and_a_stalled_one_is_not(redis_url):
    assert await flight_outcome(redis_url, 16) == "made"  # every connection busy: asked again until one is free
    assert await flight_outcome(redis_url, 1) == "local"  # one call stalled: Redis may be hung, render here
