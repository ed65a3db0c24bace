"""SIGTERM: stop accepting at once, let requests in flight finish within server.shutdown_timeout,
answer the rest 503 with Retry-After (never an empty reply), exit within shutdown_timeout + 1 s.
And a busy port: one line naming the address and the setting, exit code 2."""

import concurrent.futures
import http.client
import signal
import socket
import subprocess
import sys
import time

import requests

from conftest import ROOT, Server, process

# About 8 s of work on the 4000x4000 big.png (the budget is raised for it below).
LONG = "image/resize,w_4096,limit_0/rotate,33/blur,r_50,s_50/format,png"


def shutdown_server(tmp_path, samples, shutdown_timeout: float) -> Server:
    return Server(tmp_path, f"""
[server]
port = {{port}}
workers = 1
shutdown_timeout = {shutdown_timeout}
[cache]
memory_bytes = 0
[limits]
work_budget_ms = 120000
[buckets.test]
source = "file://{samples}"
""", name="shutdown")


def terminate_during(srv: Server, asks: list[tuple[str, str]], after: float):
    """Ask `asks` at once, SIGTERM the server `after` s later; ([answers], seconds from the signal
    to the process's exit)."""
    with concurrent.futures.ThreadPoolExecutor(len(asks)) as executor:
        futures = [executor.submit(process, srv, key, p) for key, p in asks]
        time.sleep(after)
        signalled = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        srv.process.wait(30)
        exited = time.monotonic() - signalled
        return [f.result() for f in futures], exited


def test_sigterm_lets_a_short_request_finish_and_exits_soon_after(tmp_path, samples):
    with shutdown_server(tmp_path, samples, shutdown_timeout=8) as srv:
        [answer], exited = terminate_during(srv, [("big.png", "image/resize,w_2000/format,jpg")], after=0.2)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg"
        assert exited < 8 + 1, exited
        assert "Traceback" not in srv.logs()


def test_sigterm_answers_a_request_that_cannot_finish_503_and_exits_within_the_timeout_and_a_second(
        tmp_path, samples):
    with shutdown_server(tmp_path, samples, shutdown_timeout=2) as srv:
        answers, exited = terminate_during(srv, [("big.png", LONG), ("photo.jpg", "image/resize,w_10")], after=1.0)
        long_answer, queued = answers
        assert long_answer.status_code == 503, long_answer.text
        assert long_answer.headers["Retry-After"] == "1" and long_answer.headers["Connection"] == "close"
        assert "<Code>ServiceUnavailable</Code>" in long_answer.text and "shutting down" in long_answer.text
        assert queued.status_code in (200, 503)
        assert exited < 2 + 1, exited
        assert "Traceback" not in srv.logs()


def test_while_stopping_new_connections_are_refused_and_kept_alive_ones_answered_503(tmp_path, samples):
    with shutdown_server(tmp_path, samples, shutdown_timeout=3) as srv:
        kept = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        kept.request("GET", "/healthz")
        assert kept.getresponse().read() and True
        with concurrent.futures.ThreadPoolExecutor(1) as executor:
            busy = executor.submit(process, srv, "big.png", LONG)  # keeps the server draining
            time.sleep(0.5)
            srv.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            kept.request("GET", "/test/photo.jpg")
            answer = kept.getresponse()
            assert answer.status == 503 and answer.getheader("Connection") == "close"
            assert answer.getheader("Retry-After") == "1" and b"shutting down" in answer.read()
            try:
                requests.get(srv.url("/healthz"), timeout=2)
                refused = False
            except requests.ConnectionError:
                refused = True
            assert refused
            assert busy.result().status_code == 503
        srv.process.wait(10)


def test_a_busy_port_is_one_line_naming_the_address_and_the_setting_and_exit_code_2(tmp_path, samples):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "busy.toml"
        config.write_text(f'[server]\nport = {port}\n[buckets.test]\nsource = "file://{samples}"\n')
        done = subprocess.run([sys.executable, "-m", "edge", "serve", "--config", str(config)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in lines[0]
    assert "server.port" in lines[0]
