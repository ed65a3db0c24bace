"""Drive one server with wrk and measure what it cost the server.

Contract: ``measure(port, roots, paths, connections, seconds, warmup)``
runs a discarded warm-up (none if ``warmup`` is 0), waits for the server
(and, for a while, the machine) to go idle, then runs wrk for
``seconds`` over ``paths`` (round robin, rotate.lua) against 127.0.0.1:port
and returns a dict of:
  seconds, waited_for_idle_s, rps, requests, p50_ms, p90_ms, p99_ms, max_ms,
  non2xx, socket_errors (wrk's connect/read/write/timeout counts),
  cpu_ms_per_req  - utime+stime (+children) of the server's process trees
                    (``roots``), taken right before and after wrk,
  server_cpu_cores - the same over the wall time, in cores,
  per_process     - [[comm, pid, cpu ms], ...] to show how load spread,
  peak_rss_mib, peak_pss_mib, memory_samples - peaks of the summed tree
                    (RSS every 100 ms, PSS every 500 ms: proctree.py),
  wrk_cpu_cores, harness_cpu_cores, background_cpu_cores - CPU used by wrk,
                    by this process, and by everything else on the machine
                    during the run, in cores: the two cores are shared, so a
                    busy neighbour shows here.
The "after" CPU is read when wrk exits, so requests still in flight then
(at most ``connections``) are partly charged: <3% at these rates.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import proctree

LUA = Path(__file__).resolve().parent / "rotate.lua"
HOST = "127.0.0.1"


def _rusage_ms(who: int) -> float:
    r = resource.getrusage(who)
    return (r.ru_utime + r.ru_stime) * 1000.0


def run_wrk(port: int, paths_file: Path, connections: int, seconds: float) -> dict:
    """One wrk run; the parsed WRKJSON line.  One wrk thread: it shares the
    two cores with the server, and one thread far outruns these servers."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(LUA), f"http://{HOST}:{port}", "--", str(paths_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk gave no result (rc {out.returncode}): {out.stderr.strip() or out.stdout[-300:]}")


def wait_idle(roots: list[int], timeout: float = 30.0, quiet_timeout: float = 1.0,
              window: float = 0.3) -> float:
    """Wait until the server's trees are idle (< 0.05 core over ``window``),
    so work left from the warm-up is not charged to the measured run; then
    up to ``quiet_timeout`` s more for the rest of the machine to drop under
    0.2 core (another job on the box takes the servers' cores).  Returns the
    seconds waited."""
    start = time.monotonic()
    prev_server, prev_busy = proctree.tree_cpu_ms(roots)[0], proctree.machine_busy_ms()
    idle_since = None
    while True:
        time.sleep(window)
        server, busy = proctree.tree_cpu_ms(roots)[0], proctree.machine_busy_ms()
        server_ms, other_ms = server - prev_server, busy - prev_busy - (server - prev_server)
        prev_server, prev_busy = server, busy
        elapsed = time.monotonic() - start
        if idle_since is None:
            if server_ms < 0.05 * window * 1000:
                idle_since = elapsed
            elif elapsed > timeout:
                break
        if idle_since is not None and (other_ms < 0.2 * window * 1000 or elapsed - idle_since >= quiet_timeout):
            break
    return round(time.monotonic() - start, 1)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def measure(port: int, roots: list[int], paths: list[str], connections: int,
            seconds: float, warmup: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as f:
        f.write("\n".join(paths) + "\n")
        paths_file = Path(f.name)
    try:
        if warmup > 0:
            run_wrk(port, paths_file, connections, warmup)
        waited = wait_idle(roots)
        cpu0, ticks0 = proctree.tree_cpu_ms(roots)
        busy0, wall0 = proctree.machine_busy_ms(), time.monotonic()
        kids0, self0 = _rusage_ms(resource.RUSAGE_CHILDREN), _rusage_ms(resource.RUSAGE_SELF)
        with proctree.MemorySampler(roots) as mem:
            res = run_wrk(port, paths_file, connections, seconds)
        cpu1, ticks1 = proctree.tree_cpu_ms(roots)
        busy1, wall1 = proctree.machine_busy_ms(), time.monotonic()
        wrk_ms = _rusage_ms(resource.RUSAGE_CHILDREN) - kids0
        self_ms = _rusage_ms(resource.RUSAGE_SELF) - self0
    finally:
        os.unlink(paths_file)

    server_ms = cpu1 - cpu0
    wall_ms = (wall1 - wall0) * 1000
    n = res["requests"]
    lat = res["latency_us"]
    per_process = sorted(
        ([_comm(pid), pid, round((t - ticks0.get(pid, 0)) * 1000 / proctree.TICKS_PER_S)]
         for pid, t in ticks1.items() if t != ticks0.get(pid, 0)),
        key=lambda r: -r[2])
    return {
        "seconds": round(res["duration_us"] / 1e6, 1),
        "waited_for_idle_s": waited,
        "rps": round(n / (res["duration_us"] / 1e6), 2),
        "requests": n,
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 2),
        "non2xx": res["non2xx"],
        "socket_errors": {k: v for k, v in res["errors"].items() if k != "status" and v},
        "cpu_ms_per_req": round(server_ms / n, 3) if n else None,  # W5 costs ~0.15 ms
        "server_cpu_cores": round(server_ms / wall_ms, 2),
        "per_process": per_process,
        "peak_rss_mib": round(mem.peak_rss_kib / 1024, 1),
        "peak_pss_mib": round(mem.peak_pss_kib / 1024, 1),
        "memory_samples": mem.samples,
        "wrk_cpu_cores": round(wrk_ms / wall_ms, 2),
        "harness_cpu_cores": round(self_ms / wall_ms, 2),
        "background_cpu_cores": round(max(0.0, busy1 - busy0 - server_ms - wrk_ms - self_ms) / wall_ms, 2),
    }
