"""Upstreams that misbehave: each is answered at once with our own OSS error, and edge keeps serving.

The upstream is a real HTTP server on 127.0.0.1 written here, one path per fault: a slow drip,
a Content-Length larger than what it sends, an endless body, a 500, a redirect loop, a hang
before the headers.
"""

from __future__ import annotations

import io
import re
import socketserver
import threading
import time

import pytest
import requests
from PIL import Image

from conftest import Server

FETCH_TIMEOUT = 1.0  # limits.fetch_timeout of the server under test
SOURCE_BYTES = 1 << 20
VIDEO_BYTES = 2 << 20
PROMPT = FETCH_TIMEOUT + 2.0  # an answer within this many seconds is prompt
NAMES_OF_OURS = re.compile(r"\w+(Error|Exception)\b|aiohttp|Python|Traceback")  # never in an answer


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


JPEG = _jpeg()


def _head(status: int, *fields: str) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close", *fields, "", ""]
    return "\r\n".join(lines).encode()


class _Faults(socketserver.BaseRequestHandler):
    """One request per connection; the path picks the fault."""

    def handle(self) -> None:
        sock, stopping = self.request, self.server.stopping
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                return
            head += data
        method, path = head.split(b" ", 2)[:2]
        only_head = method == b"HEAD"
        try:
            getattr(self, "_" + path.decode().strip("/").removesuffix(".jpg"), self._missing)(sock, only_head, stopping)
        except OSError:  # edge hung up on us: that is what the faults are for
            pass

    def _good(self, sock, only_head, stopping):
        sock.sendall(_head(200, "Content-Type: image/jpeg", f"Content-Length: {len(JPEG)}") + (b"" if only_head else JPEG))

    def _drip(self, sock, only_head, stopping):
        # One byte every 0.1 s: far inside read_timeout, so only a total deadline stops it.
        sock.sendall(_head(200, "Content-Type: image/jpeg", f"Content-Length: {len(JPEG)}"))
        for byte in b"" if only_head else JPEG:
            if stopping.wait(0.1):
                return
            sock.sendall(bytes([byte]))

    def _short(self, sock, only_head, stopping):
        sock.sendall(_head(200, "Content-Type: image/jpeg", f"Content-Length: {len(JPEG) * 10}"))
        if not only_head:
            sock.sendall(JPEG)  # then close: 9/10 of the promised bytes never come

    def _endless(self, sock, only_head, stopping):
        sock.sendall(_head(200, "Content-Type: image/jpeg"))  # no length: the body ends when we close
        chunk = JPEG * 16
        while not only_head and not stopping.is_set():
            sock.sendall(chunk)

    def _error(self, sock, only_head, stopping):
        sock.sendall(_head(500, "Content-Length: 21") + (b"" if only_head else b"Internal Server Error"))

    def _loop(self, sock, only_head, stopping):
        sock.sendall(_head(302, "Location: /loop.jpg", "Content-Length: 0"))

    def _hang(self, sock, only_head, stopping):
        stopping.wait(60)

    def _missing(self, sock, only_head, stopping):
        sock.sendall(_head(404, "Content-Length: 0"))


class _Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Faults)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """(edge, upstream): an edge server whose bucket `flaky` is the misbehaving upstream."""
    upstream = _Upstream()
    srv = Server(tmp_path_factory.mktemp("faults"), f"""
[server]
port = {{port}}
workers = 1
[limits]
fetch_timeout = {FETCH_TIMEOUT}
source_bytes = {SOURCE_BYTES}
video_bytes = {VIDEO_BYTES}
[buckets.flaky]
source = "http://127.0.0.1:{upstream.server_address[1]}/"
""", name="faults")
    yield srv, upstream
    srv.stop()
    upstream.stop()


def _get(srv: Server, path: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(srv.url(path), timeout=30)
    return response, time.monotonic() - started


@pytest.mark.parametrize("path, status, code", [
    # A fetch has limits.fetch_timeout in all, however steadily the bytes drip (issue 16.7).
    ("/flaky/drip.jpg?x-oss-process=image/resize,w_10", 504, "SourceTimeout"),
    # ... headers included: HEAD (the validators) and the pass-through alike.
    ("/flaky/hang.jpg?x-oss-process=image/resize,w_10", 504, "SourceTimeout"),
    ("/flaky/hang.jpg", 504, "SourceTimeout"),
    ("/flaky/short.jpg?x-oss-process=image/resize,w_10", 502, "SourceUnavailable"),
    ("/flaky/endless.jpg?x-oss-process=image/resize,w_10", 400, "ImageTooLarge"),
    ("/flaky/error.jpg?x-oss-process=image/resize,w_10", 502, "SourceUnavailable"),
    ("/flaky/error.jpg", 502, "SourceUnavailable"),
    ("/flaky/loop.jpg?x-oss-process=image/resize,w_10", 502, "SourceUnavailable"),
    ("/flaky/loop.jpg", 502, "SourceUnavailable"),
])
def test_a_misbehaving_upstream_is_answered_promptly_with_our_own_error(faulty, path, status, code):
    srv, _ = faulty
    response, seconds = _get(srv, path)
    assert (response.status_code, seconds < PROMPT) == (status, True), (response.text, seconds)
    assert response.headers["Content-Type"] == "application/xml"
    assert f"<Code>{code}</Code>" in response.text and response.headers["x-oss-request-id"]
    assert not NAMES_OF_OURS.search(response.text), response.text


@pytest.mark.parametrize("path, at_most", [
    ("/flaky/drip.jpg", PROMPT),  # the deadline, after the headers went out
    ("/flaky/short.jpg", PROMPT),  # the upstream broke its word
    ("/flaky/endless.jpg", 30),  # cut after max(source_bytes, video_bytes)
])
def test_a_pass_through_the_upstream_fails_in_the_middle_of_is_cut_short(faulty, path, at_most):
    srv, _ = faulty
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with requests.get(srv.url(path), timeout=30, stream=True) as response:
            received = 0
            for chunk in response.iter_content(1 << 16):
                received += len(chunk)
                assert received <= VIDEO_BYTES
    assert time.monotonic() - started < at_most


def test_after_every_fault_edge_still_serves_and_nothing_failed_inside(faulty):
    srv, _ = faulty
    for path in ("/flaky/drip.jpg?x-oss-process=image/resize,w_12", "/flaky/hang.jpg?x-oss-process=image/resize,w_12",
                 "/flaky/endless.jpg", "/flaky/short.jpg"):
        try:
            with requests.get(srv.url(path), timeout=30, stream=True) as response:
                for _ in zip(range(VIDEO_BYTES >> 16), response.iter_content(1 << 16)):
                    pass
        except requests.RequestException:
            pass
    response = srv.get("/flaky/good.jpg?x-oss-process=image/resize,w_16")
    assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (16, 12)
    assert srv.get("/healthz").status_code == 200
    assert srv.metric("edge_requests_total", status="500") == 0
    assert "Traceback" not in srv.logs() and " ERROR " not in srv.logs()


def test_a_dripping_upstream_holds_one_request_for_the_deadline_not_for_its_pace(faulty):
    srv, _ = faulty
    _, seconds = _get(srv, "/flaky/drip.jpg?x-oss-process=image/resize,w_20")
    assert FETCH_TIMEOUT * 0.9 <= seconds < PROMPT


def test_fetch_timeout_is_a_checked_setting(tmp_path):
    from edge import config

    assert config.load(None).limits.fetch_timeout == 30
    path = tmp_path / "bad.toml"
    path.write_text("[limits]\nfetch_timeout = 0\n")
    with pytest.raises(config.ConfigError, match="limits.fetch_timeout"):
        config.load(str(path))
