"""Traces: with the standard OTEL_* variables set, edge sends OpenTelemetry spans by OTLP
(HTTP/protobuf) to a receiver started here; one rendition miss is one trace holding the request,
the cache levels, the source fetch, the queue wait and the worker's render (from the worker
process). Off, nothing is sent; a receiver that is down costs no answer."""

from __future__ import annotations

import collections
import gzip
import http.server
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from conftest import ROOT, edge_running, free_port
from edge import tracing

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


class Receiver:
    """A real OTLP/HTTP receiver on 127.0.0.1: `POST /v1/traces` (protobuf, maybe gzipped); the
    spans it got, each as a dict of its ids, name, parent, attributes and service name."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        spans = self.spans

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            spans.append({
                                "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                                "service": resource.get("service.name"),
                                "attributes": {a.key: _value(a.value) for a in span.attributes}})
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str, until, seconds: float = 20) -> list[dict]:
        """The spans of `trace_id`, once `until(spans)` holds (or after `seconds`)."""
        deadline = time.monotonic() + seconds
        while True:
            spans = [span for span in self.spans if span["trace_id"] == trace_id]
            if until(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without OTEL_ and EDGE_ variables, with `variables` over it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "EDGE_"))}
    return {**env, "PYTHONPATH": str(ROOT), **variables}


def folder_config(tmp_path, samples) -> tuple[int, object]:
    """(port, config file) of a one-worker edge with bucket `local` on the sample folder."""
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(f'[server]\nport = {port}\nworkers = 1\n[buckets.local]\nsource = "file://{samples}"\n')
    return port, config


def _value(value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory, nginx, receiver):
    """An edge with an http source, memory and disk levels and two workers, tracing to `receiver`:
    (base URL, log path)."""
    tmp = tmp_path_factory.mktemp("traced")
    port = free_port()
    config = tmp / "edge.toml"
    config.write_text(f"""
[server]
port = {port}
workers = 2

[cache]
disk_path = "{tmp / 'disk'}"

[buckets.web]
source = "{nginx}/"
""")
    env = environment(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME="edge-test",
                      OTEL_BSP_SCHEDULE_DELAY="100")
    log = tmp / "edge.log"
    with edge_running(["serve", "--config", str(config)], port, log, env) as process:
        yield f"http://127.0.0.1:{port}", log, process


def ancestors(span: dict, by_id: dict[str, dict]) -> list[str]:
    names = []
    while span["parent"] in by_id:
        span = by_id[span["parent"]]
        names.append(span["name"])
    return names


def test_a_rendition_miss_is_one_trace_with_every_step_and_the_workers_render(traced, receiver):
    base, log, process = traced
    answer = requests.get(f"{base}/web/photo.jpg?x-oss-process=image/resize,w_77", timeout=60,
                          headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert answer.status_code == 200 and answer.headers["X-Cache"] == "MISS"
    spans = receiver.trace(TRACE_ID, lambda spans: {"GET", "worker render"} <= {s["name"] for s in spans})
    names = collections.Counter(span["name"] for span in spans)
    for name in ("GET", "cache.memory.get", "cache.disk.get", "source.fetch", "queue.wait", "worker render",
                 "cache.memory.put", "cache.disk.put"):
        assert names[name] >= 1, (name, names)
    by_id = {span["span_id"]: span for span in spans}
    request = next(span for span in spans if span["name"] == "GET")
    # The caller's span is the request span's parent; every other span descends from the request.
    assert request["parent"] == PARENT_ID and request["kind"] == 2  # SERVER
    assert request["attributes"]["http.response.status_code"] == 200
    assert request["attributes"]["edge.canonical"] == "image/resize,w_77"
    assert request["attributes"]["edge.cache"] == "MISS"
    assert request["attributes"]["edge.request_id"] == answer.headers["x-oss-request-id"]
    for span in spans:
        if span is not request:
            assert "GET" in ancestors(span, by_id), span
    # The render ran in a worker process, in the same trace.
    render = next(span for span in spans if span["name"] == "worker render")
    worker_pids = {int(pid) for pid in open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()}
    assert render["attributes"]["process.pid"] in worker_pids and render["attributes"]["process.pid"] != process.pid
    assert {span["service"] for span in spans} == {"edge-test"}
    assert next(s for s in spans if s["name"] == "cache.memory.get")["attributes"]["edge.cache.hit"] is False
    assert next(s for s in spans if s["name"] == "source.fetch")["attributes"]["edge.key"] == "photo.jpg"
    # The access line carries the trace id.
    time.sleep(0.3)
    line = next(line for line in log.read_text().splitlines() if answer.headers["x-oss-request-id"] in line)
    assert f"trace={TRACE_ID}" in line


def test_a_hit_without_traceparent_starts_its_own_trace(traced, receiver):
    base, log, _ = traced
    path = "/web/photo.jpg?x-oss-process=image/resize,w_78"
    requests.get(base + path, timeout=60)
    answer = requests.get(base + path, timeout=60)
    assert answer.headers["X-Cache"] == "HIT"
    time.sleep(0.3)
    line = next(line for line in log.read_text().splitlines() if answer.headers["x-oss-request-id"] in line)
    trace_id = re.search(r"trace=([0-9a-f]{32})", line)[1]
    spans = receiver.trace(trace_id, lambda spans: any(s["name"] == "GET" for s in spans))
    names = {span["name"] for span in spans}
    assert "GET" in names and "cache.memory.get" in names and "worker render" not in names, names
    hit = next(span for span in spans if span["name"] == "cache.memory.get")
    assert hit["attributes"]["edge.cache.hit"] is True


def test_a_receiver_that_is_down_costs_no_answer(tmp_path, samples):
    port, config = folder_config(tmp_path, samples)
    env = environment(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}", OTEL_BSP_SCHEDULE_DELAY="50",
                      OTEL_EXPORTER_OTLP_TIMEOUT="1")
    with edge_running(["serve", "--config", str(config)], port, tmp_path / "edge.log", env):
        started = time.monotonic()
        for width in range(60, 66):
            answer = requests.get(f"http://127.0.0.1:{port}/local/photo.jpg?x-oss-process=image/resize,w_{width}",
                                  timeout=30)
            assert answer.status_code == 200
        assert time.monotonic() - started < 10


def test_off_sends_nothing(tmp_path, samples, receiver):
    port, config = folder_config(tmp_path, samples)
    env = environment(OTEL_SERVICE_NAME="edge-off")  # a name, but no endpoint: off
    with edge_running(["serve", "--config", str(config)], port, tmp_path / "edge.log", env):
        answer = requests.get(f"http://127.0.0.1:{port}/local/photo.jpg?x-oss-process=image/resize,w_55",
                              headers={"traceparent": f"00-{'1' * 32}-{PARENT_ID}-01"}, timeout=30)
        assert answer.status_code == 200
        time.sleep(1)
    assert not [span for span in receiver.spans if span["service"] == "edge-off" or span["trace_id"] == "1" * 32]


@pytest.mark.parametrize("environ,on", [
    ({}, False),
    ({"OTEL_SERVICE_NAME": "x"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
])
def test_the_standard_variables_turn_tracing_on_and_off(environ, on):
    assert tracing.wanted(environ) is on


def test_a_protocol_other_than_http_protobuf_stops_start_up(tmp_path, samples):
    _, config = folder_config(tmp_path, samples)
    env = environment(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    result = subprocess.run([sys.executable, "-m", "edge", "serve", "--config", str(config), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2 and "http/protobuf only" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
