"""Install, start and stop the servers under test, all bound to 127.0.0.1.

Contract for each ``Server``:
- ``install()`` is idempotent and cached between runs (a venv, a
  node_modules folder, a Debian package); it raises ``Unavailable`` when the
  server cannot be had, and the run then skips that server and says why.
- ``start(cache)`` launches it with its rendition/result cache on or off and
  returns once it answers HTTP; ``roots`` are then the PIDs whose process
  trees are the server (measured by proctree.py).
- ``stop()`` ends exactly the processes it started, by PID.
- ``path(op)`` is the request path (with query) for a workloads.Op, and
  ``skip_reason(workload)`` says why a workload is not run on it, or None.
Every process is also registered with ``stop_all``, run at exit, so an
error or Ctrl-C never leaves a server behind.
"""

from __future__ import annotations

import atexit
import http.client
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import proctree
from workloads import Op, Workload

BENCH_DIR = Path(__file__).resolve().parent
SCRATCH = BENCH_DIR / ".scratch"  # configs, logs, thumbor's result storage
HOST = "127.0.0.1"
WORKERS = 2  # worker processes per server: one per core of the 2-core box

THUMBOR_REQUIREMENTS = ["thumbor==7.8.0", "pillow-heif==1.8.1"]
IPX_VERSION = "3.1.1"

_live: list[subprocess.Popen] = []


class Unavailable(Exception):
    """The server cannot be installed or started here; the message says why."""


def _log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def spawn(name: str, cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` in its own session (so a Ctrl-C aimed at the harness
    does not reach it before we stop it in order), logging to .scratch/logs."""
    log_dir = SCRATCH / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    _live.append(proc)
    return proc


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each started process, so it shuts down its own workers in
    order; after 10 s SIGKILL whatever is left of its tree (collected first:
    a parent may die before its children).  Only PIDs of processes this
    module started, or their descendants."""
    live = [p for p in procs if p.poll() is None]
    pids = proctree.tree([p.pid for p in live])
    for p in live:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in live:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for pid in proctree.tree(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in procs:
        if p.poll() is None:
            p.wait(timeout=5)
        if p in _live:
            _live.remove(p)


def stop_all() -> None:
    """Stop everything still running that this module started."""
    if _live:
        stop(list(_live))


atexit.register(stop_all)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def http_get(port: int, path: str, timeout: float = 120.0) -> tuple[int, dict, bytes]:
    """One GET to 127.0.0.1:port; (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_ready(name: str, procs: list[subprocess.Popen], port: int, path: str,
               want_200: bool = True, timeout: float = 60.0) -> None:
    """Poll until ``path`` answers (200, or anything if not ``want_200``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise Unavailable(f"{name} exited with {dead[0].returncode}; see {SCRATCH / 'logs'}")
        try:
            status, _, _ = http_get(port, path, timeout=5)
            if status == 200 or not want_200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise Unavailable(f"{name} did not answer {path} on port {port} within {timeout:.0f} s")


def _apt_install(package: str, binary: str) -> None:
    """Install a Debian package if ``binary`` is missing (we run as root)."""
    if shutil.which(binary):
        return
    if os.geteuid() != 0:
        raise Unavailable(f"{binary} missing and not root to apt-get install {package}")
    _log(f"apt-get install {package}")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


class Server:
    """Common start/stop bookkeeping; subclasses fill in the specifics."""

    name = ""
    port = 0
    # Ports that must be free before start (the public one plus any backends).
    ports: tuple[int, ...] = ()

    def __init__(self, corpus: Path):
        self.corpus = corpus
        self.procs: list[subprocess.Popen] = []

    @property
    def roots(self) -> list[int]:
        return [p.pid for p in self.procs]

    def install(self) -> None:
        raise NotImplementedError

    def versions(self) -> dict:
        raise NotImplementedError

    def _launch(self, cache: bool) -> None:
        raise NotImplementedError

    def path(self, op: Op) -> str:
        raise NotImplementedError

    def skip_reason(self, workload: Workload) -> str | None:
        return None

    def start(self, cache: bool) -> None:
        busy = [p for p in self.ports if not port_free(p)]
        if busy:
            # Never kill what we did not start: report and skip instead.
            raise Unavailable(f"port(s) {busy} on {HOST} already in use")
        try:
            self._launch(cache)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop(self.procs)
        self.procs = []


class Edge(Server):
    """Our server: ``edge serve --config FILE`` with ``workers = 2``.

    ``access_log`` turns its per-request log line on (the peers write none);
    ``code`` runs the package found in that folder (a checkout of another
    commit, with ``python -m edge``) instead of the installed one.
    """

    name, port = "edge", 8090
    ports = (8090,)

    def __init__(self, corpus: Path, access_log: bool = False, code: Path | None = None):
        super().__init__(corpus)
        self.access_log, self.code = access_log, code

    def _exe(self) -> str | None:
        # The script installed with this Python first, then whatever is on PATH.
        beside = Path(sys.executable).parent / "edge"
        return str(beside) if beside.exists() else shutil.which("edge")

    @property
    def log_name(self) -> str:
        """Its output goes to .scratch/logs/<log_name>.log; the access log's lines too."""
        return "edge-accesslog" if self.access_log else "edge"

    def _command(self) -> tuple[list[str], dict | None]:
        if self.code is not None:
            return [sys.executable, "-m", "edge"], {"PYTHONPATH": str(self.code)}
        return [self._exe()], None

    def install(self) -> None:
        if not self._exe():
            raise Unavailable("`edge` console command not found (pip install -e /work/main)")

    def versions(self) -> dict:
        import PIL
        out = {"python": sys.version.split()[0], "Pillow": PIL.__version__}
        for dist in ("edge-origin", "pillow-heif", "aiohttp"):
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = None
        return out

    def _launch(self, cache: bool) -> None:
        cfg = SCRATCH / f"edge-{'cache' if cache else 'nocache'}.toml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        # access_log off by default: none of the peers writes a line per request either.
        cfg.write_text(
            "[server]\n"
            f'host = "{HOST}"\nport = {self.port}\nworkers = {WORKERS}\nqueue = 256\n'
            f"access_log = {'true' if self.access_log else 'false'}\n"
            "[cache]\n"
            f"memory_bytes = {256 * 2**20 if cache else 0}\n"
            "[buckets.bench]\n"
            f'source = "{self.corpus.as_uri()}"\n'
        )
        command, env = self._command()
        self.procs = [spawn(self.log_name, [*command, "serve", "--config", str(cfg)], env=env)]
        wait_ready("edge", self.procs, self.port, "/healthz")

    def path(self, op: Op) -> str:
        steps = [f"resize,w_{op.width}" + (f",h_{op.height}" if op.height else "")]
        if op.quality:
            steps.append(f"quality,Q_{op.quality}")
        if op.fmt:
            steps.append(f"format,{op.fmt}")
        return f"/bench/{quote(op.key)}?x-oss-process=image/" + "/".join(steps)

    def metrics(self) -> str:
        """The Prometheus text at /metrics ('' if it does not answer 200)."""
        try:
            status, _, body = http_get(self.port, "/metrics", timeout=10)
        except OSError:
            return ""
        return body.decode("utf-8", "replace") if status == 200 else ""


class Thumbor(Server):
    """thumbor 7 (PIL engine, gifsicle for animated GIF) in its own venv.

    Two single-process thumbors behind nginx (least_conn).  thumbor's own
    ``--processes 2`` (tornado fork mode, one shared listening socket) was
    tried first: wrk opens its keep-alive connections in one burst and the
    first process to wake accepts them all, so one process did all the work
    (measured: 798 vs 0 CPU ticks over 8 s).  This is also the deployment
    thumbor's docs recommend.  nginx's CPU and memory count as thumbor's.
    """

    name, port = "thumbor", 8091
    backend_ports = (8093, 8094)
    ports = (8091, 8093, 8094)
    venv = BENCH_DIR / ".venv-thumbor"

    def install(self) -> None:
        _apt_install("gifsicle", "gifsicle")
        _apt_install("nginx", "nginx")
        stamp = self.venv / "bench-requirements.txt"
        want = "\n".join(THUMBOR_REQUIREMENTS)
        if stamp.exists() and stamp.read_text() == want and (self.venv / "bin" / "thumbor").exists():
            return
        _log(f"creating {self.venv} with {' '.join(THUMBOR_REQUIREMENTS)}")
        subprocess.run(["python3", "-m", "venv", "--clear", str(self.venv)], check=True)
        subprocess.run([str(self.venv / "bin" / "pip"), "install", "-q", *THUMBOR_REQUIREMENTS], check=True)
        stamp.write_text(want)

    def versions(self) -> dict:
        code = ("import json, importlib.metadata as m, PIL, sys; print(json.dumps({"
                "'thumbor': m.version('thumbor'), 'Pillow': PIL.__version__, "
                "'pillow-heif': m.version('pillow-heif'), 'python': sys.version.split()[0]}))")
        out = json.loads(subprocess.run([str(self.venv / "bin" / "python"), "-c", code],
                                        check=True, capture_output=True, text=True).stdout)
        gifsicle = subprocess.run(["gifsicle", "--version"], capture_output=True, text=True).stdout
        nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
        out["gifsicle"] = gifsicle.splitlines()[0].split()[-1] if gifsicle else None
        out["nginx"] = nginx.strip().rsplit("/", 1)[-1] if nginx else None
        return out

    def _launch(self, cache: bool) -> None:
        base = SCRATCH / "thumbor"
        results = base / "result-storage"
        shutil.rmtree(results, ignore_errors=True)  # a cache-on run starts cold
        (base / "nginx").mkdir(parents=True, exist_ok=True)
        conf = base / "thumbor.conf"
        conf.write_text(
            "LOADER = 'thumbor.loaders.file_loader'\n"
            f"FILE_LOADER_ROOT_PATH = {str(self.corpus)!r}\n"
            # Sources are local files: no copy of the originals either.
            "STORAGE = 'thumbor.storages.no_storage'\n"
            + (f"RESULT_STORAGE = 'thumbor.result_storages.file_storage'\n"
               f"RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {str(results)!r}\n"
               "RESULT_STORAGE_STORES_UNSAFE = True\n" if cache else "RESULT_STORAGE = None\n")
            + "ALLOW_UNSAFE_URL = True\n"
            "USE_GIFSICLE_ENGINE = True\n"
        )
        nginx_conf = base / "nginx" / "nginx.conf"
        backends = "".join(f"    server {HOST}:{p};\n" for p in self.backend_ports)
        nginx_conf.write_text(
            "worker_processes 1;\ndaemon off;\n"
            f"pid {base / 'nginx' / 'nginx.pid'};\n"
            f"error_log {SCRATCH / 'logs' / 'nginx-error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n"
            f"  upstream thumbor {{\n    least_conn;\n{backends}    keepalive 32;\n  }}\n"
            f"  server {{\n    listen {HOST}:{self.port};\n"
            "    location / {\n      proxy_pass http://thumbor;\n      proxy_http_version 1.1;\n"
            '      proxy_set_header Connection "";\n      proxy_read_timeout 300s;\n'
            # Keep whole responses in memory: no temp files under /var/lib.
            "      proxy_buffer_size 64k;\n      proxy_buffers 16 64k;\n      proxy_max_temp_file_size 0;\n"
            "    }\n  }\n}\n"
        )
        for p in self.backend_ports:
            self.procs.append(spawn(f"thumbor-{p}", [
                str(self.venv / "bin" / "thumbor"), "-i", HOST, "-p", str(p), "-c", str(conf), "-l", "warning"]))
        self.procs.append(spawn("nginx", ["nginx", "-p", str(base / "nginx"), "-c", str(nginx_conf),
                                          "-e", str(SCRATCH / "logs" / "nginx-error.log")]))
        for p in self.backend_ports:
            wait_ready("thumbor", self.procs, p, "/healthcheck")
        wait_ready("thumbor", self.procs, self.port, "/healthcheck")

    def path(self, op: Op) -> str:
        # fit-in = fit inside the box, like OSS's default resize mode (lfit).
        size = f"fit-in/{op.width}x{op.height}" if op.height else f"{op.width}x0"
        filters = []
        if op.quality:
            filters.append(f"quality({op.quality})")
        if op.fmt:
            filters.append(f"format({'jpeg' if op.fmt == 'jpg' else op.fmt})")
        return f"/unsafe/{size}/" + (f"filters:{':'.join(filters)}/" if filters else "") + quote(op.key)


class IPX(Server):
    """IPX (unjs, sharp/libvips) from npm: one Node process; libvips and
    libuv's thread pool use both cores on their own, so there is no worker
    count to set."""

    name, port = "ipx", 8092
    ports = (8092,)
    prefix = BENCH_DIR / ".peers"

    def install(self) -> None:
        if not shutil.which("node") or not shutil.which("npm"):
            raise Unavailable("node/npm not found")
        pkg = self.prefix / "node_modules" / "ipx" / "package.json"
        if pkg.exists() and json.loads(pkg.read_text())["version"] == IPX_VERSION:
            return
        self.prefix.mkdir(parents=True, exist_ok=True)
        # Generated here, not committed: a lockfile would name registry hosts.
        (self.prefix / "package.json").write_text(
            json.dumps({"private": True, "dependencies": {"ipx": IPX_VERSION}}, indent=1))
        _log(f"npm install ipx@{IPX_VERSION} into {self.prefix}")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=self.prefix, check=True)

    def versions(self) -> dict:
        # ipx's "exports" hide its package.json from require(): read the file.
        code = ("const s=require('sharp'),fs=require('fs');console.log(JSON.stringify({ipx:JSON.parse("
                "fs.readFileSync('node_modules/ipx/package.json')).version,"
                "sharp:s.versions.sharp,libvips:s.versions.vips,node:process.versions.node}))")
        return json.loads(subprocess.run(["node", "-e", code], cwd=self.prefix, check=True,
                                         capture_output=True, text=True).stdout)

    def _launch(self, cache: bool) -> None:
        self.procs = [spawn("ipx", ["node", str(self.prefix / "node_modules" / "ipx" / "bin" / "ipx.mjs"), "serve",
                                    "--dir", str(self.corpus), "--host", HOST, "--port", str(self.port)],
                            env={"NODE_ENV": "production"}, cwd=self.prefix)]
        # IPX has no health route; any HTTP answer (400 for "/") means it is up.
        wait_ready("ipx", self.procs, self.port, "/", want_200=False)

    def path(self, op: Op) -> str:
        mods = [f"s_{op.width}x{op.height}", "fit_inside"] if op.height else [f"w_{op.width}"]
        if op.quality:
            mods.append(f"q_{op.quality}")
        if op.fmt:
            mods.append(f"f_{'jpeg' if op.fmt == 'jpg' else op.fmt}")
        return f"/{','.join(mods)}/{quote(op.key)}"

    def skip_reason(self, workload: Workload) -> str | None:
        if workload.cache:
            return "IPX has no result cache: every request re-renders (that is W1)"
        if any(op.fmt == "heic" for op in workload.ops):
            return "sharp's prebuilt libvips has libheif without an HEVC encoder: no HEIC output"
        return None


SERVERS = {cls.name: cls for cls in (Edge, Thumbor, IPX)}
