"""A real S3-protocol server for the tests: moto's standalone server, as its own process.

    python tests/s3server.py PORT LOG ACCESS_KEY_ID SECRET_ACCESS_KEY

serves moto's S3 on 127.0.0.1:PORT with authentication on: only the one access key given
(an IAM user allowed everything) may do anything, so its buckets are private. It appends one
line per request to LOG, `METHOD PATH STATUS CONDITIONAL` (CONDITIONAL is `cond` when the
request carried If-None-Match or If-Modified-Since, else `-`): the tests count the GETs of an
original at the server. Started again with the same key, it takes the same credentials (its
buckets start empty).

Faults on demand: `PUT /_faults/<bucket>/<key>?status=503&code=SlowDown&times=2` (unsigned,
answered by the launcher, not moto) makes the next `times` GETs of that object answer `status`
with that S3 error code (logged as such).

`S3Server` starts and stops it from a test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

ACCESS_KEY_ID = "AKIAEDGETESTKEY00001"
SECRET_ACCESS_KEY = "edge-test-secret-0123456789abcdefghijklm"
_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


class S3Server:
    """moto's server on a free loopback port (or `port`), its requests logged to `folder`/s3-PORT.log;
    used as a context manager, it is stopped when the block ends. Its methods import conftest's
    helpers when they run, not this file at its top: the server process (this file run) needs none
    of the test machinery."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        from conftest import free_port

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"s3-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Start the process and wait until it answers (its buckets are empty)."""
        from conftest import wait_for_port

        output = open(self.log.with_suffix(".out"), "ab")
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.port), str(self.log), ACCESS_KEY_ID, SECRET_ACCESS_KEY],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        output.close()
        assert wait_for_port(self.port, 30, self.process), self.log.with_suffix(".out").read_text()

    def stop(self) -> None:
        """Stop the process (by its PID)."""
        from conftest import stop_process

        if self.process is not None:
            stop_process(self.process)

    def __enter__(self) -> "S3Server":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def client(self, access_key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY):
        """A boto3 S3 client for this server (path-style)."""
        import boto3
        import botocore.config

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=access_key_id,
                            aws_secret_access_key=secret,
                            config=botocore.config.Config(s3={"addressing_style": "path"}))

    def fail(self, bucket: str, key: str, status: int, code: str, times: int) -> None:
        """The next `times` GETs of `bucket`/`key` answer `status` with the S3 error `code`."""
        import requests

        requests.put(f"{self.url}/_faults/{bucket}/{key}", params={"status": status, "code": code, "times": times},
                     timeout=10).raise_for_status()

    def requests(self, method: str | None = None, path: str | None = None) -> list[list[str]]:
        """The requests the server saw, as [method, path, status, conditional], oldest first."""
        lines = [line.split() for line in self.log.read_text().splitlines()] if self.log.exists() else []
        return [line for line in lines
                if (method is None or line[0] == method) and (path is None or line[1] == path)]

    def toml(self, addressing_style: str = "path", secret: str = SECRET_ACCESS_KEY) -> str:
        """The body of an `s3` table for edge that reaches this server."""
        return (f'endpoint_url = "{self.url}"\nregion = "us-east-1"\naddressing_style = "{addressing_style}"\n'
                f'access_key_id = "{ACCESS_KEY_ID}"\nsecret_access_key = "{secret}"\n')


def storage_example(heading: str) -> str:
    """The TOML block of docs/storage.md under the heading `heading` (its first after it)."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "storage.md").read_text()
    after = text[text.index(f" {heading}\n"):]
    return after[after.index("```toml\n") + len("```toml\n"):after.index("\n```\n")] + "\n"


def served_by(example: str, server: S3Server, replacements: dict[str, str]) -> str:
    """A docs example pointed at `server`: its endpoint, style and keys replaced by the server's,
    and each of `replacements` (old text -> new) applied."""
    lines = [line for line in example.splitlines()
             if not line.startswith(("endpoint_url", "region", "addressing_style", "access_key_id",
                                     "secret_access_key"))]
    text = "\n".join(lines) + "\n"
    for old, new in replacements.items():
        text = text.replace(old, new)
    for table in ("[buckets.photos.s3]", "[cache.s3]"):
        text = text.replace(table + "\n", table + "\n" + server.toml())
    return text


def wait_logged(server, text: str, seconds: float = 15) -> str:
    """The log of edge `server` (conftest.Server) once it holds `text`: start-up looks at buckets run
    in the background, so their warnings follow the server's start."""
    from conftest import wait_until

    assert wait_until(lambda: text in server.logs(), seconds), f"not logged: {text!r}\n{server.logs()}"
    return server.logs()


def _serve(port: int, log_path: str, access_key_id: str, secret: str) -> None:
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # before moto reads its settings: authenticate all
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user("us-east-1", "edge")
    iam.put_user_policy("edge", "everything", _ALLOW_ALL)
    key = iam.create_access_key("edge")
    del iam.access_keys[key.physical_resource_id]
    key.access_key_id, key.secret_access_key = access_key_id, secret
    iam.access_keys[key.physical_resource_id] = key

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)

    faults: dict[str, list] = {}  # path -> [status, code, times left]

    def logged(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_faults/"):
            query = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part)
            with lock:
                faults[path[len("/_faults"):]] = [int(query["status"]), query["code"], int(query["times"])]
            start_response("204 No Content", [])
            return [b""]
        with lock:
            fault = faults.get(path) if environ["REQUEST_METHOD"] == "GET" else None
            if fault and fault[2] > 0:
                fault[2] -= 1
                log.write(f"GET {path} {fault[0]} -\n")
            else:
                fault = None
        if fault is not None:
            body = f"<?xml version='1.0'?><Error><Code>{fault[1]}</Code><Message>injected</Message></Error>".encode()
            start_response(f"{fault[0]} Injected", [("Content-Type", "application/xml"),
                                                    ("Content-Length", str(len(body)))])
            return [body]
        return counted(environ, start_response)

    def counted(environ, start_response):
        def start(status, headers, exc_info=None):
            conditional = "cond" if {"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE"} & environ.keys() else "-"
            with lock:
                log.write(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} {status.split()[0]} "
                          f"{conditional}\n")
            return start_response(status, headers, exc_info)
        return app(environ, start)

    run_simple("127.0.0.1", port, logged, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
