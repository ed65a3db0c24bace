"""Requests aiohttp's HTTP parser refuses are answered as edge answers every error (issue 16.9).

Each is sent over a raw socket to a real `edge serve`: an OSS XML error with a request id and
`Server: edge`, nothing naming Python, aiohttp or an exception, and one log line, not a traceback.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ElementTree

import pytest

from conftest import Server

GET = b"GET /photos/photo.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
LEAKS = re.compile(rb"Python|aiohttp|Traceback|\w+(Error|Exception)\b|b'")

CASES = {
    "a header line over 8190 bytes": (GET + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n", 431, "RequestHeaderTooLarge"),
    "a request line over 8190 bytes": (b"GET /photos/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                                       414, "RequestUriTooLong"),
    "more than 128 headers": (GET + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n",
                              431, "RequestHeaderTooLarge"),
    "a Content-Length that is not a number": (GET + b"Content-Length: ten\r\n\r\n", 400, "BadRequest"),
    "both Content-Length and chunked": (
        b"POST /photos/photo.jpg?x-oss-process HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "BadRequest"),
    "a bad chunk size": (GET + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "BadRequest"),
    "an unknown method": (b"BREW /photos/photo.jpg HTTP/1.1\r\nHost: x\r\n\r\n", 501, "NotImplemented"),
    "HTTP/1.1 without Host": (b"GET /photos/photo.jpg HTTP/1.1\r\n\r\n", 400, "BadRequest"),
    "an HTTP version that does not exist": (b"GET /photos/photo.jpg HTTP/7.0\r\nHost: x\r\n\r\n", 400, "BadRequest"),
    "TLS on the plain port": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(64) + b"\r\n\r\n",
                              400, "BadRequest"),
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory, samples):
    with Server(tmp_path_factory.mktemp("protocol"), f"""
[server]
port = {{port}}
workers = 1
host_id = "edge.test"
[buckets.photos]
source = "file://{samples}"
""", name="protocol") as srv:
        yield srv


def exchange(srv: Server, data: bytes) -> bytes:
    """Send `data`, read until the server closes: the whole answer."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("case", CASES)
def test_what_the_parser_refuses_is_an_oss_error_of_ours(plain, case):
    data, status, code = CASES[case]
    answer = exchange(plain, data)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
    assert lines[0].split(" ")[1] == str(status), answer
    assert headers["server"] == "edge" and headers["content-type"] == "application/xml"
    assert re.fullmatch(r"[0-9A-F]{24}", headers["x-oss-request-id"])
    error = ElementTree.fromstring(body)
    assert (error.findtext("Code"), error.findtext("RequestId"), error.findtext("HostId")) == (
        code, headers["x-oss-request-id"], "edge.test")
    assert error.findtext("Message")
    assert not LEAKS.search(answer), answer
    # One line in the log, no traceback.
    logged = [line for line in plain.logs().splitlines() if headers["x-oss-request-id"] in line]
    assert len([line for line in logged if "edge.protocol" in line]) == 1, logged
    assert "Traceback" not in plain.logs() and " ERROR " not in plain.logs()


def test_the_server_keeps_serving_and_counts_what_it_refused(plain):
    for data, _, _ in CASES.values():
        exchange(plain, data)
    assert plain.get("/photos/photo.jpg").status_code == 200
    assert plain.metric("edge_requests_total", dialect="none", status="431") >= 4
    assert plain.metric("edge_requests_total", status="500") == 0
    assert "Traceback" not in plain.logs()
