"""format,auto and the bucket's auto_format: avif/webp by Accept, with Vary: Accept only then.

In-process (conftest.InProcess): headers and routing need no server process of their own."""

import pytest
import pytest_asyncio

from conftest import InProcess, open_image

pytestmark = pytest.mark.asyncio(loop_scope="module")

AVIF = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
WEBP = "image/webp,*/*"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def auto(samples):
    async with InProcess(f"""
[server]
workers = 2
[buckets.test]
source = "file://{samples}"
[buckets.autobucket]
source = "file://{samples}"
auto_format = true
""") as srv:
        yield srv


async def ask(srv, key, proc, accept, bucket="test", **headers):
    return await srv.get(f"/{bucket}/{key}", params={"x-oss-process": proc}, headers={"Accept": accept, **headers})


@pytest.mark.parametrize("accept, content_type", [
    (AVIF, "image/avif"), (WEBP, "image/webp"), ("image/jpeg,*/*", "image/jpeg"), ("", "image/jpeg"),
])
async def test_format_auto_follows_accept(auto, accept, content_type):
    response = await ask(auto, "photo.jpg", "image/resize,w_100/format,auto", accept)
    assert response.status_code == 200 and response.headers["Content-Type"] == content_type
    assert response.headers["Vary"] == "Accept"
    assert open_image(response).size == (100, 75)


async def test_each_negotiated_format_has_its_own_etag_and_304(auto):
    avif = await ask(auto, "photo.jpg", "image/resize,w_90/format,auto", AVIF)
    webp = await ask(auto, "photo.jpg", "image/resize,w_90/format,auto", WEBP)
    assert avif.headers["ETag"] != webp.headers["ETag"]
    again = await ask(auto, "photo.jpg", "image/resize,w_90/format,auto", AVIF, **{"If-None-Match": avif.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Vary"] == "Accept"
    # The negotiated rendition is the same cache entry as asking for that format outright.
    explicit = await auto.get("/test/photo.jpg", params={"x-oss-process": "image/resize,w_90/format,avif"})
    assert explicit.headers["ETag"] == avif.headers["ETag"] and "Vary" not in explicit.headers


async def test_no_vary_without_negotiation(auto):
    response = await ask(auto, "photo.jpg", "image/resize,w_80", AVIF)
    assert response.headers["Content-Type"] == "image/jpeg" and "Vary" not in response.headers


async def test_the_bucket_switch_negotiates_renditions_without_a_format(auto):
    plain = await ask(auto, "photo.jpg", "image/resize,w_80", WEBP, bucket="autobucket")
    assert plain.headers["Content-Type"] == "image/webp" and plain.headers["Vary"] == "Accept"
    explicit = await ask(auto, "photo.jpg", "image/resize,w_80/format,png", WEBP, bucket="autobucket")
    assert explicit.headers["Content-Type"] == "image/png" and "Vary" not in explicit.headers


async def test_an_animated_gif_prefers_webp_to_keep_its_frames(auto):
    response = await ask(auto, "anim.gif", "image/resize,w_60/format,auto", AVIF)
    assert response.headers["Content-Type"] == "image/webp"
    assert open_image(response).n_frames == 5
