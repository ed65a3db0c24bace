"""Logs: with `log_format = "json"` every line the server and its workers write is one JSON
object, and a request's access line carries its request id, canonical string and trace id."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from conftest import ROOT, Server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def json_server(tmp_path_factory, samples):
    with Server(tmp_path_factory.mktemp("logs"), f"""
[server]
port = {{port}}
workers = 1
log_format = "json"

[buckets.logs]
source = "file://{samples}"
styles = {{ small = "image/resize,w_40" }}
""", name="logs") as srv:
        yield srv


def json_lines(server: Server, deadline: float = 5.0) -> list[dict]:
    """Every line the server wrote so far, each parsed (a line that is not JSON fails the test)."""
    time.sleep(0.2)  # access lines are written at the end of the event loop's turn
    lines = [line for line in server.logs().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
    return parsed


def access_line(server: Server, request_id: str) -> dict:
    for _ in range(50):
        found = [entry for entry in json_lines(server) if entry.get("request_id") == request_id]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no access line for {request_id}:\n{server.logs()}")


def test_a_rendition_miss_logs_its_request_id_canonical_string_and_trace_id(json_server):
    answer = json_server.get("/logs/photo.jpg", params={"x-oss-process": "image/format,webp/resize,w_100,m_lfit"},
                             headers={"traceparent": TRACEPARENT, "User-Agent": "log-test"})
    assert answer.status_code == 200
    entry = access_line(json_server, answer.headers["x-oss-request-id"])
    assert entry["method"] == "GET" and entry["path"] == "/logs/photo.jpg" and entry["status"] == 200
    assert entry["bytes"] == len(answer.content) and 0 < entry["duration"] < 60
    assert entry["dialect"] == "oss" and entry["cache"] == "MISS"
    # The canonical string, whatever the spelling asked.
    assert entry["canonical"] == "image/resize,w_100/format,webp", entry
    assert entry["trace_id"] == TRACE_ID and entry["user_agent"] == "log-test"
    assert entry["time"].endswith("Z") and entry["level"] == "INFO"
    # A style: its own canonical string.
    again = json_server.get("/logs/photo.jpg@!small")
    entry = access_line(json_server, again.headers["x-oss-request-id"])
    assert (entry["dialect"], entry["cache"], entry["canonical"]) == ("style", "MISS", "image/resize,w_40")
    assert entry["trace_id"] is None


@pytest.mark.parametrize("traceparent", [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id: invalid
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id: invalid
    "garbage", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case: invalid
])
def test_a_malformed_traceparent_is_ignored_not_an_error(json_server, traceparent):
    answer = json_server.get("/logs/photo.jpg", headers={"traceparent": traceparent})
    assert answer.status_code == 200
    assert access_line(json_server, answer.headers["x-oss-request-id"])["trace_id"] is None


def test_errors_and_a_dead_worker_are_json_lines_too(json_server):
    bad = json_server.get("/logs/photo.jpg", params={"x-oss-process": "image/resize,w_abc"})
    assert bad.status_code == 400
    entry = access_line(json_server, bad.headers["x-oss-request-id"])
    assert entry["status"] == 400 and entry["canonical"] is None
    missing = json_server.get("/logs/nothing-here.jpg")
    assert access_line(json_server, missing.headers["x-oss-request-id"])["status"] == 404
    # A request line aiohttp's parser refuses.
    refused = requests.request("BREW", json_server.url("/logs/photo.jpg"), timeout=10)
    assert access_line(json_server, refused.headers["x-oss-request-id"])["status"] == 501
    # A worker killed: the server says so, in JSON.
    worker = json_server.worker_pids()[0]
    os.kill(worker, signal.SIGKILL)
    for _ in range(100):
        if json_server.metric("edge_live_workers") == 1 and worker not in json_server.worker_pids():
            break
        time.sleep(0.1)
    entries = json_lines(json_server)
    assert any(str(worker) in entry.get("message", "") and entry["level"] in ("WARNING", "ERROR")
               for entry in entries), entries
    assert {entry["logger"] for entry in entries} >= {"aiohttp.access", "edge.pool"}


def test_a_worker_logs_a_failing_job_as_json(tmp_path):
    # A job the worker cannot run (a bug, not bad input) is logged by the worker itself, with its
    # traceback inside one JSON object; the worker answers InternalError and goes on.
    script = textwrap.dedent("""
        import asyncio
        from edge.pool import start_worker

        async def main():
            worker, _ = await start_worker("edge.worker")
            answer, _ = await worker.call(None, b"", None, None)
            print(type(answer.error).__name__, flush=True)
            answer, _ = await worker.call(None, b"", None, None)
            await worker.stop()

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env=dict(os.environ, EDGE_LOG_FORMAT="json", PYTHONPATH=str(ROOT)))
    assert result.stdout.split() == ["InternalError"], result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr
    assert all(entry["logger"] == "edge.worker" and entry["level"] == "ERROR" for entry in lines)
    assert "Traceback" in lines[0]["exception"] and lines[0]["pid"] != os.getpid()


def test_text_format_stays_the_default_and_carries_the_trace_id(server):
    answer = server.get("/test/photo.jpg", headers={"traceparent": TRACEPARENT})
    rid = answer.headers["x-oss-request-id"]
    for _ in range(50):
        line = next((line for line in server.logs().splitlines() if f"rid={rid}" in line), None)
        if line:
            break
        time.sleep(0.1)
    assert line is not None and f"trace={TRACE_ID}" in line and " INFO aiohttp.access: " in line


def test_the_json_examples_of_docs_observability_md_have_the_fields_edge_writes(json_server):
    doc = (ROOT / "docs" / "observability.md").read_text()
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", doc, re.S)]
    access, application = examples[0], examples[1]
    answer = json_server.get("/logs/photo.jpg", params={"x-oss-process": "image/resize,w_30"})
    assert set(access_line(json_server, answer.headers["x-oss-request-id"])) == set(access)
    assert set(json_lines(json_server)[0]) == set(application)


def test_the_gpu_worker_logs_a_failing_batch_as_json():
    # The GPU worker (here on nvImageCodec's CPU backend) follows the server's format too.
    script = textwrap.dedent("""
        import asyncio
        from edge import channel
        from edge.pool import start_worker

        async def main():
            worker, _ = await start_worker("edge.gpu.worker", "--cpu", timeout=120)
            await channel.write_message(worker.writer, ("render", None), b"")
            answer, _ = await channel.read_message(worker.reader)
            print(type(answer.error).__name__, flush=True)
            await worker.stop()

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=ROOT,
                            env=dict(os.environ, EDGE_LOG_FORMAT="json", PYTHONPATH=str(ROOT)))
    assert result.stdout.split() == ["InternalError"], result.stderr
    # nvImageCodec's native code writes its own lines to stderr (here: no CUDA libraries); every
    # line of Python's logging is one JSON object.
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["logger"] == "edge.worker" and "Traceback" in lines[0]["exception"], lines
