"""Shared fixtures: generated sample images, a real `edge serve` subprocess, a real nginx upstream.

Every server here listens on 127.0.0.1 and is stopped at its test's or the session's end: a process
of its own (`Server`, nginx, Redis; stopped by PID), or the application served in this process with
real workers (`InProcess`, `InProcessServer`) where a test asks only for routing, headers and answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # proctree: process trees and their memory, as the harness reads them
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
QUADRANTS = {"nw": (255, 0, 0), "ne": (0, 255, 0), "sw": (0, 0, 255), "se": (255, 255, 0)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quadrants(width: int, height: int) -> Image.Image:
    """Four solid quadrants (red nw, green ne, blue sw, yellow se) with a grey centre cross."""
    im = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 0, width // 2 - 1, height // 2 - 1], fill=QUADRANTS["nw"])
    draw.rectangle([width // 2, 0, width - 1, height // 2 - 1], fill=QUADRANTS["ne"])
    draw.rectangle([0, height // 2, width // 2 - 1, height - 1], fill=QUADRANTS["sw"])
    draw.rectangle([width // 2, height // 2, width - 1, height - 1], fill=QUADRANTS["se"])
    return im


def write_samples(folder: Path) -> None:
    """The images the tests ask for, made here so no binary fixture is needed."""
    from edge.demo import landscape

    folder.mkdir(parents=True, exist_ok=True)
    landscape(400, 300).save(folder / "photo.jpg", quality=90)
    landscape(200, 100).save(folder / "small.jpg", quality=90)
    quadrants(300, 200).save(folder / "quadrants.png")
    rgba = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([50, 0, 150, 100], fill=(200, 30, 30, 255))
    rgba.save(folder / "alpha.png")
    frames = [Image.new("RGB", (120, 80), (i * 40, 100, 200 - i * 40)) for i in range(5)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=[50, 60, 70, 80, 90], loop=0)
    sideways = quadrants(200, 300).transpose(Image.Transpose.ROTATE_90)  # stored as 300x200
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(folder / "exif6.jpg", quality=95, exif=exif)
    (folder / "nested").mkdir(exist_ok=True)
    landscape(120, 80).save(folder / "nested" / "deep name.jpg")
    _hostile(folder)


def _hostile(folder: Path) -> None:
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(good, "JPEG")
    (folder / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_bytes(b"this is not an image at all\n" * 10)
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (folder / "huge-header.png").write_bytes(_png_claiming(100_000, 100_000))
    big = Image.new("RGB", (4000, 4000), (20, 120, 200))
    draw = ImageDraw.Draw(big)
    for i in range(0, 4000, 50):
        draw.line([(i, 0), (4000 - i, 4000)], fill=(i % 255, 80, 40), width=3)
    big.save(folder / "big.png")


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header says `width` x `height`: a decompression bomb's calling card."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    header = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


class Listening:
    """A test server on 127.0.0.1:`port`, as the tests ask it: request URLs, GETs and /metrics sums.
    Used as a context manager, it is stopped when the block ends."""

    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url(path), timeout=60, **kwargs)

    def metric(self, name: str, **labels) -> float:
        """The sum of the /metrics samples of `name` whose labels include `labels` (0 when none)."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            sample, _, value = line.rpartition(" ")
            metric, _, label_text = sample.partition("{")
            if metric != name:
                continue
            found = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part)
            if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
                total += float(value)
        return total

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()  # each kind's own


class Server(Listening):
    """`edge serve --config <toml>` as a subprocess on a free port (`{port}` in the TOML is it)."""

    def __init__(self, tmp: Path, toml: str, name: str = "edge") -> None:
        self.port = free_port()
        self.config = tmp / f"{name}-{self.port}.toml"
        self.config.write_text(toml.replace("{port}", str(self.port)))
        self.log = open(tmp / f"{name}-{self.port}.log", "w+")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge", "serve", "--config", str(self.config)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            wait_healthy(self.process, self.port, 60, self.logs)
        except RuntimeError:
            self.stop()
            raise

    def worker_pids(self) -> list[int]:
        """PIDs of this server's worker processes (its children)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def logs(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM to `process` (started in a session of its own), and SIGKILL of its group after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def edge_running(arguments: list[str], port: int, log: Path, env: dict, cwd: Path | None = None,
                 seconds: float = 90):
    """`python -m edge <arguments>` serving on `port`, its output appended to `log`, from when its
    /healthz answers until the block ends (then stopped by PID). Yields the process."""
    with open(log, "ab") as output:  # appending: the server's writes never land over earlier lines
        process = subprocess.Popen([sys.executable, "-m", "edge", *arguments], cwd=cwd, stdout=output,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_healthy(process, port, seconds, log.read_text)
        yield process
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bucket")
    write_samples(folder)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.jpg").write_bytes((folder / "photo.jpg").read_bytes())
    os.symlink(outside / "secret.jpg", folder / "escape.jpg")
    return folder


@pytest.fixture(scope="session")
def nginx(tmp_path_factory, samples) -> str:
    """A real nginx serving the sample folder; its base URL."""
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    site = prefix / "samples.conf"
    site.write_text(f"types {{ image/jpeg jpg; image/png png; image/gif gif; }}\n"
                    f"server {{ listen 127.0.0.1:{port}; root {samples}; }}\n")
    with nginx_running(prefix, [site], [port]):
        yield f"http://127.0.0.1:{port}"


def main_toml(samples: Path) -> str:
    """The main test server's config, without its nginx bucket: bucket `test` (the folder `samples`,
    also bound to Host img.edge.test)."""
    return f"""
[server]
host = "127.0.0.1"
port = {{port}}
workers = 2
queue = 32
job_timeout = 20

[cache]
memory_bytes = 67108864

[buckets.test]
source = "file://{samples}"
domains = ["img.edge.test"]
cache_control = "public, max-age=600"
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory, samples, nginx) -> Server:
    """The main test server: bucket `test` (folder, also bound to Host img.edge.test) and `web` (nginx)."""
    with Server(tmp_path_factory.mktemp("server"), main_toml(samples) + f"""
[buckets.web]
source = "{nginx}/"
""") as srv:
        yield srv


def open_image(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text[:500]
    return Image.open(io.BytesIO(response.content))


def process(server: Server, key: str, process: str, bucket: str = "test") -> requests.Response:
    return server.get(f"/{bucket}/{key}", params={"x-oss-process": process})


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A real redis-server on a free loopback port, writing nothing to disk: (process, URL).

    Fails the test when redis-server is not installed (./setup.sh installs Debian's redis-server).
    The caller stops the process.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run ./setup.sh (it installs Debian's redis-server)", pytrace=False)
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port(port, 5)
    return process, f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def redis_running(folder: Path):
    """start_redis's redis-server until the block ends, then stopped by PID (woken first, in case a
    test stopped it). Yields (process, URL)."""
    process, url = start_redis(folder)
    try:
        yield process, url
    finally:
        process.send_signal(signal.SIGCONT)  # a stopped process does not act on SIGTERM
        process.terminate()
        process.wait(10)


def wait_until(ready: Callable[[], bool], seconds: float, process: subprocess.Popen | None = None) -> bool:
    """Whether `ready()` came true within `seconds` (asked every 0.05 s); False as soon as `process`,
    when one is given, has exited."""
    deadline = time.monotonic() + seconds
    while process is None or process.poll() is None:
        if ready():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return False


def wait_for_port(port: int, seconds: float, process: subprocess.Popen | None = None) -> bool:
    """Until something accepts connections on 127.0.0.1:`port`, `seconds` have passed, or `process`
    (when given) has exited; whether something accepts."""
    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    return wait_until(accepts, seconds, process)


def wait_healthy(process: subprocess.Popen, port: int, seconds: float, output: Callable[[], str]) -> None:
    """Until `process` answers 200 on 127.0.0.1:`port`/healthz (an edge server listens only once its
    workers are up; /readyz may say no for other reasons). Raises RuntimeError, with `output()`, when
    the process exits first or `seconds` pass."""
    def healthy() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:  # refused, or slow on a busy machine: not up yet
            return False

    if not wait_until(healthy, seconds, process):
        state = f"exited with {process.returncode}" if process.poll() is not None else f"not healthy in {seconds} s"
        raise RuntimeError(f"{' '.join(map(str, process.args))}: {state}:\n{output()}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """The URL of a real redis-server shared by the session's tests."""
    with redis_running(tmp_path_factory.mktemp("redis")) as (_, url):
        yield url


def render_deploy_template(name: str, folder: Path, **variables: str) -> Path:
    """deploy/<name>.template rendered into `folder` by envsubst, as docs/deploy.md tells operators
    to (naming the variables, so nginx's own $variables stay); the rendered file's path."""
    template = ROOT / "deploy" / f"{name}.template"
    listed = " ".join(f"${{{key}}}" for key in variables)
    rendered = subprocess.run(["envsubst", listed], input=template.read_text(), capture_output=True, text=True,
                              env=dict(os.environ, **variables), check=True).stdout
    missing = set(re.findall(r"\$\{(EDGE_[A-Z_]+)\}", rendered))
    assert not missing, f"{name}: variables not given: {missing}"
    target = folder / Path(name).name
    target.write_text(rendered)
    return target


@contextlib.contextmanager
def nginx_running(folder: Path, includes: list[Path], ports: list[int]):
    """A real nginx whose `http { }` block includes `includes` (files from deploy/ rendered, or a
    test's own), until the block ends; `ports` are waited for. Yields the process."""
    if NGINX is None:
        pytest.fail("nginx is not installed: run ./setup.sh (it installs Debian's nginx-light)", pytrace=False)
    user = "user root;" if os.geteuid() == 0 else ""
    lines = "\n".join(f"    include {path};" for path in includes)
    (folder / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{lines}
}}
""")
    check = subprocess.run([NGINX, "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for port in ports:
            wait_for_port(port, 10)
        yield process
    finally:
        process.terminate()
        process.wait(10)


def render(job, data: bytes | None) -> tuple[dict, bytes]:
    """(meta, body) of the rendition `job` (an edge.jobs.RenderJob) made alone on the original `data` (or
    its `path`), as a worker makes it: a batch of one. Raises the job's OssError."""
    from edge.jobs import RenderBatch
    from edge.render import render_batch

    made = []
    render_batch(RenderBatch((job,)), data, lambda message, body: made.append((message.meta, body)))
    return made[0]


@dataclass
class Reply:
    """An in-process answer with the parts of a requests.Response the tests read."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class InProcess:
    """The application of a config served in this process by aiohttp's TestServer, for tests of
    routing, headers and error bodies (the workers are real processes). `await get(path, params=,
    headers=)` answers a Reply, as `Server.get` answers a requests.Response."""

    def __init__(self, toml: str, port: int | None = None) -> None:
        from edge.app import make_app
        from edge.config import load

        app = make_app(load(environ={}, overrides=tomllib.loads(toml)))
        self.client = TestClient(TestServer(app, host="127.0.0.1", port=port))

    async def __aenter__(self) -> "InProcess":
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.client.close()

    async def get(self, path: str, **kwargs) -> Reply:
        async with self.client.get(path, allow_redirects=False, **kwargs) as answer:
            return Reply(answer.status, answer.headers, await answer.read())


class InProcessServer(Listening):
    """InProcess on an event loop of its own, in a thread: the application of a config (a TOML as
    `Server` takes it) served in this process on a free 127.0.0.1 port, with real workers, for tests
    that ask it with blocking clients (requests, http.client, the oss2 SDK) as they ask a `Server`,
    without starting an `edge serve` process. No access log: ask a `Server` for logs."""

    def __init__(self, toml: str) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"edge-{self.port}", daemon=True)
        self._thread.start()
        self._app: InProcess | None = None
        try:
            self._app = self._run(self._open(toml.replace("{port}", str(self.port))))
        except BaseException:
            self.stop()
            raise

    async def _open(self, toml: str) -> InProcess:
        return await InProcess(toml, self.port).__aenter__()

    def _run(self, coroutine, seconds: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(seconds)

    def stop(self) -> None:
        """Close the application (its workers included), then the loop and its thread."""
        if self._loop.is_closed():
            return
        try:
            if self._app is not None:
                self._run(self._app.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
