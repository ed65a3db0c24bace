"""Range and If-Range as RFC 9110 says, for originals and renditions; Accept with q-values; Allow on 405."""

from __future__ import annotations

import io
import re

import pytest
import requests
from PIL import Image

from conftest import Server

RENDITION = "/test/photo.jpg?x-oss-process=image/resize,w_120"
ORIGINAL = "/test/photo.jpg"


@pytest.fixture(scope="module", params=["original", "rendition"])
def target(request, server: Server) -> tuple[str, bytes, requests.Response]:
    """(path, whole body, whole answer) of an original and of a rendition."""
    path = ORIGINAL if request.param == "original" else RENDITION
    whole = server.get(path)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    return path, whole.content, whole


def test_one_range_is_a_206_with_its_bytes(server, target):
    path, body, _ = target
    answer = server.get(path, headers={"Range": "bytes=10-109"})
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes 10-109/{len(body)}"
    assert answer.content == body[10:110]
    suffix = server.get(path, headers={"Range": "bytes=-50"})
    assert suffix.status_code == 206 and suffix.content == body[-50:]
    past_the_end = server.get(path, headers={"Range": f"bytes={len(body) - 5}-{len(body) + 1000}"})
    assert past_the_end.status_code == 206 and past_the_end.content == body[-5:]


def test_overlapping_ranges_are_merged_into_one(server, target):
    path, body, _ = target
    answer = server.get(path, headers={"Range": "bytes=0-9, 5-19"})
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes 0-19/{len(body)}" and answer.content == body[:20]


def test_if_range_with_the_current_etag_or_date_gives_the_range(server, target):
    path, body, whole = target
    for validator in (whole.headers["ETag"], whole.headers["Last-Modified"]):
        answer = server.get(path, headers={"Range": "bytes=0-99", "If-Range": validator})
        assert answer.status_code == 206 and answer.content == body[:100], validator


@pytest.mark.parametrize("validator", ['"0123456789abcdef"', "W/{etag}", "Tue, 01 Jan 2019 00:00:00 GMT", "garbage"])
def test_if_range_that_no_longer_matches_gives_the_whole_new_body(server, target, validator):
    """A resumed download of a changed object must start again, not splice old and new bytes."""
    path, body, whole = target
    answer = server.get(path, headers={"Range": "bytes=100-", "If-Range": validator.format(etag=whole.headers["ETag"])})
    assert answer.status_code == 200 and answer.content == body
    assert "Content-Range" not in answer.headers


def test_an_unsatisfiable_range_is_416_with_the_size(server, target):
    path, body, _ = target
    answer = server.get(path, headers={"Range": f"bytes={len(body) + 10}-"})
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(body)}"


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-9", "bytes=9-2", "bytes=", "bytes=²-".encode(),
                                    "bytes=0-٣".encode()])  # digits int() refuses or reads otherwise
def test_a_range_that_does_not_parse_is_ignored(server, target, header):
    path, body, _ = target
    answer = server.get(path, headers={"Range": header})
    assert answer.status_code == 200 and answer.content == body


def test_several_ranges_of_a_rendition_are_multipart_byteranges(server):
    body = server.get(RENDITION).content
    answer = server.get(RENDITION, headers={"Range": "bytes=0-9,100-149,-20"})
    assert answer.status_code == 206
    media, _, boundary = answer.headers["Content-Type"].partition("; boundary=")
    assert media == "multipart/byteranges" and boundary
    parts = answer.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    found = []
    for part in parts[1:-1]:
        head, _, data = part.partition(b"\r\n\r\n")
        first, last, size = map(int, re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", head).groups())
        assert b"Content-Type: image/jpeg" in head and size == len(body)
        assert data.removesuffix(b"\r\n") == body[first:last + 1]
        found.append((first, last))
    assert found == [(0, 9), (100, 149), (len(body) - 20, len(body) - 1)]


def test_several_ranges_of_an_original_are_answered_whole_never_416(server):
    body = server.get(ORIGINAL).content
    answer = server.get(ORIGINAL, headers={"Range": "bytes=0-9,100-149"})
    assert answer.status_code == 200 and answer.content == body


def test_an_original_passed_through_from_http_keeps_the_upstreams_range_answers(server):
    """The `web` bucket's upstream (nginx) answers Range and If-Range itself; edge relays them,
    and its 416 keeps the size."""
    whole = server.get("/web/photo.jpg")
    body, etag = whole.content, whole.headers["ETag"]
    assert server.get("/web/photo.jpg", headers={"Range": "bytes=0-99", "If-Range": etag}).content == body[:100]
    stale = server.get("/web/photo.jpg", headers={"Range": "bytes=100-", "If-Range": '"0123-4567"'})
    assert stale.status_code == 200 and stale.content == body
    several = server.get("/web/photo.jpg", headers={"Range": "bytes=0-9,100-149"})
    assert several.status_code in (200, 206)
    beyond = server.get("/web/photo.jpg", headers={"Range": f"bytes={len(body) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(body)}"


def test_a_range_on_head_is_ignored(server):
    answer = requests.head(server.url(RENDITION), headers={"Range": "bytes=0-9"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("accept, content_type", [
    ("image/avif;q=0, image/webp", "image/webp"),
    ("image/avif;q=0.0,image/webp;q=0.5,*/*;q=0.1", "image/webp"),
    ("image/webp;q=0.5, image/avif;q=0.9", "image/avif"),
    ("image/avif;q=0.4, image/webp;q=0.9", "image/webp"),
    ("image/avif, image/webp", "image/avif"),  # equal weights: the smaller format
    ("image/avif;q=oops, image/webp", "image/webp"),  # a weight that is not a number: left out
    ("image/avif;q=0, image/webp;q=0", "image/jpeg"),
    ("image/*,*/*;q=0.8", "image/jpeg"),
])
def test_format_auto_reads_accept_with_its_q_values(server, accept, content_type):
    answer = server.get("/test/photo.jpg?x-oss-process=image/resize,w_64/format,auto", headers={"Accept": accept})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == content_type
    assert answer.headers["Vary"] == "Accept"
    assert Image.open(io.BytesIO(answer.content)).width == 64


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/test/photo.jpg", "GET, HEAD"),
    ("DELETE", "/test/photo.jpg?x-oss-process=image/resize,w_10", "GET, HEAD, POST"),
    ("POST", "/healthz", "GET, HEAD"),
])
def test_405_names_the_allowed_methods(server, method, path, allowed):
    answer = requests.request(method, server.url(path), timeout=30)
    assert answer.status_code == 405 and answer.headers["Allow"] == allowed
    assert "<Code>MethodNotAllowed</Code>" in answer.text
