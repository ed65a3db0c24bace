"""deploy/nginx/edge-cache.conf.template, rendered as docs/deploy.md says, run by a real nginx in
front of a real edge: errors cached for cache.error_max_age and 5xx never, one entry per format
for any number of Accept strings, the cache's own X-Cache, revalidation without a render, and a
burst for a new URL held to one origin request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from conftest import Server, free_port, nginx_running, render_deploy_template
from test_fleet import burst

ERROR_MAX_AGE = 2
# nginx keeps time in whole seconds: an entry stored at 100.9 for 2 s is fresh until 103.0.
NGINX_SECOND = 1.2
BROWSERS = {  # Accept of image requests -> the format edge answers
    "chrome": ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "image/avif"),
    "firefox": ("image/avif,image/webp,*/*", "image/avif"),
    "safari 17": ("image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,"
                  "image/svg+xml,image/*;q=0.8,*/*;q=0.5", "image/avif"),
    "safari 14": ("image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", "image/webp"),
    "no avif": ("image/avif;q=0, image/webp", "image/webp"),
    "curl": ("*/*", "image/jpeg"),
    "none": ("", "image/jpeg"),
}


class Cdn:
    """nginx with the cache config from deploy/ in front of `origin`."""

    def __init__(self, folder: Path, origin: Server) -> None:
        self.port = free_port()
        self.path = folder / "cache"
        self.origin = origin
        self.conf = render_deploy_template("nginx/edge-cache.conf", folder, EDGE_CACHE_LISTEN=f"127.0.0.1:{self.port}",
                                           EDGE_CACHE_PATH=str(self.path),
                                           EDGE_CACHE_UPSTREAM=f"127.0.0.1:{origin.port}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **headers) -> requests.Response:
        return requests.get(self.url(path), headers=headers, timeout=60)

    def entries(self) -> int:
        return sum(1 for path in self.path.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def cdn(tmp_path_factory, samples):
    folder = tmp_path_factory.mktemp("cdn")
    with Server(folder, f"""
[server]
port = {{port}}
workers = 1

[cache]
error_max_age = {ERROR_MAX_AGE}

[buckets.test]
source = "file://{samples}"

[buckets.auto]
source = "file://{samples}"
auto_format = true

[buckets.short]
source = "file://{samples}"
cache_control = "public, max-age=1"

[buckets.down]
source = "http://127.0.0.1:{free_port()}/"
""", name="origin") as origin:
        cdn = Cdn(folder, origin)
        with nginx_running(folder, [cdn.conf], [cdn.port]):
            yield cdn


def test_an_error_is_cached_for_error_max_age_then_asked_again(cdn):
    first = cdn.get("/test/no-such-photo.jpg")
    assert first.status_code == 404 and first.headers["X-Cache"] == "MISS"
    assert first.headers["Cache-Control"] == f"public, max-age={ERROR_MAX_AGE}"
    assert "<Code>NoSuchKey</Code>" in first.text
    again = cdn.get("/test/no-such-photo.jpg")
    assert again.status_code == 404 and again.headers["X-Cache"] == "HIT" and again.text == first.text
    assert cdn.origin.metric("edge_requests_total", status="404") == 1
    time.sleep(ERROR_MAX_AGE + NGINX_SECOND)
    later = cdn.get("/test/no-such-photo.jpg")
    assert later.status_code == 404 and later.headers["X-Cache"] in ("EXPIRED", "MISS")
    assert cdn.origin.metric("edge_requests_total", status="404") == 2


def test_a_bad_argument_is_cached_too(cdn):
    path = "/test/photo.jpg?x-oss-process=image/resize,w_abc"
    assert [cdn.get(path).headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    assert cdn.get(path).status_code == 400


def test_a_5xx_is_never_cached(cdn):
    answers = [cdn.get("/down/photo.jpg?x-oss-process=image/resize,w_10") for _ in range(2)]
    assert [a.status_code // 100 for a in answers] == [5, 5]
    assert [a.headers["X-Cache"] for a in answers] == ["MISS", "MISS"]
    assert answers[0].headers["Cache-Control"] == "no-store"


def test_accept_strings_collapse_to_one_entry_per_format(cdn):
    path = "/auto/photo.jpg?x-oss-process=image/resize,w_90"
    renders, entries = cdn.origin.metric("edge_renders_total"), cdn.entries()
    for browser, (accept, content_type) in BROWSERS.items():
        answer = cdn.get(path, Accept=accept)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == content_type, browser
        assert answer.headers["Vary"] == "Accept"  # still told to browsers and other caches
    assert cdn.origin.metric("edge_renders_total") - renders == 3
    assert cdn.entries() - entries == 3
    # Every Accept string again: all hits, each of the right format.
    for browser, (accept, content_type) in BROWSERS.items():
        answer = cdn.get(path, Accept=accept)
        assert answer.headers["X-Cache"] == "HIT" and answer.headers["Content-Type"] == content_type, browser


def test_a_hit_says_hit_not_the_origins_miss(cdn):
    path = "/test/photo.jpg?x-oss-process=image/resize,w_91"
    first, second = cdn.get(path), cdn.get(path)
    assert first.headers["X-Cache"] == "MISS" and second.headers["X-Cache"] == "HIT"
    assert first.content == second.content and first.headers["ETag"] == second.headers["ETag"]


def test_an_expired_entry_is_revalidated_without_a_render(cdn):
    path = "/short/photo.jpg?x-oss-process=image/resize,w_92"
    first = cdn.get(path)
    renders = cdn.origin.metric("edge_renders_total")
    time.sleep(1 + NGINX_SECOND)  # max-age=1
    again = cdn.get(path)
    assert again.status_code == 200 and again.headers["X-Cache"] == "REVALIDATED"
    assert again.content == first.content
    assert cdn.origin.metric("edge_renders_total") == renders
    assert cdn.origin.metric("edge_requests_total", status="304") == 1


def test_a_burst_for_a_new_url_is_one_origin_request(cdn):
    path = "/test/big.png?x-oss-process=image/resize,w_700"
    before = cdn.origin.metric("edge_requests_total", dialect="oss", status="200")
    answers = burst([cdn.url(path)] * 20)
    assert {a.status_code for a in answers} == {200} and len({a.content for a in answers}) == 1
    assert cdn.origin.metric("edge_requests_total", dialect="oss", status="200") - before == 1


def test_the_errors_of_header_signed_requests_are_not_kept(cdn):
    """A shared cache may keep the answer to a request with Authorization when it says public."""
    path = "/no-such-bucket/photo.jpg"  # a 404, public for unsigned requests
    assert cdn.get(path).headers["Cache-Control"] == f"public, max-age={ERROR_MAX_AGE}"
    answers = [cdn.get(path + "?signed", Authorization="OSS LTAIexample:c2lnbmF0dXJl") for _ in range(2)]
    assert [a.status_code for a in answers] == [404, 404]
    assert [a.headers["Cache-Control"] for a in answers] == ["no-store"] * 2
    assert [a.headers["X-Cache"] for a in answers] == ["MISS", "MISS"]
