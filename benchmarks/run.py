"""One command for the whole benchmark: ``python benchmarks/run.py``.

Generates the corpus, installs and starts each server in turn on 127.0.0.1,
checks every URL's answer, loads it with wrk, runs the Pillow floor, and
writes benchmarks/results/latest.json, docs/performance.md and
docs/perf-chart.png (or all three into --out DIR).  Every process it starts
is stopped by PID on the way out, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import check
import corpus
import peers
import report
from load import measure, wait_idle
from workloads import Workload, select

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
BUSY_CORES = 0.3  # other load during a measured run above which it is taken again


def _log(msg: str) -> None:
    print(f"[run {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def validate(server: peers.Server, workload: Workload) -> dict:
    """Fetch every URL of the workload once and check each answer."""
    def one(op):
        started = time.monotonic()
        try:
            status, headers, body = peers.http_get(server.port, server.path(op))
        except OSError as exc:
            return op, check.Verdict(errors=[f"request failed: {exc}"]), time.monotonic() - started
        return op, check.check(status, headers, body, op.expect()), time.monotonic() - started

    # Two at a time: W7 has 120 URLs, and the box has two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(one, workload.ops))
    errors = [f"{server.path(op)}: {e}" for op, v, _ in verdicts for e in v.errors]
    warnings = sorted({w for _, v, _ in verdicts for w in v.warnings})
    sizes = sorted(v.bytes for _, v, _ in verdicts)
    return {"valid": not errors, "errors": errors[:5], "error_count": len(errors),
            "warnings": warnings[:5], "median_response_bytes": sizes[len(sizes) // 2],
            # The fastest fetch: the least disturbed by anything else running.
            "check_min_s": round(min(t for _, _, t in verdicts), 3)}


def run_cell(server: peers.Server, workload: Workload, args) -> dict:
    cell = {"server": server.name, "workload": workload.id, "connections": workload.connections,
            "example_path": server.path(workload.ops[0]), "urls": len(workload.ops)}
    # The previous cell's last requests may still be rendering (IPX's GIFs
    # take seconds): let them finish so they do not slow the checks.
    wait_idle(server.roots, quiet_timeout=0)
    cell.update(validate(server, workload))
    if not cell["valid"]:
        _log(f"{server.name} {workload.id}: INVALID ({cell['error_count']} bad answers): {cell['errors'][0]}")
    # A slow cell (IPX's AVIF takes 3 s an image) would finish almost no
    # request in the default window: give it ~12 single-request times, at
    # most 20 s, and let the check's fetches be its warm-up.
    t1 = cell["check_min_s"]
    seconds = max(args.seconds, min(20.0, 12 * t1))
    warmup = 0.0 if t1 > 1.0 else args.warmup
    # Measured even when invalid, so the table still shows what happened;
    # report.py leaves invalid cells out of every ratio.
    paths = [server.path(op) for op in workload.ops]
    result = measure(server.port, server.roots, paths, workload.connections, seconds, warmup)
    if result["background_cpu_cores"] >= BUSY_CORES:
        # Another job took a share of the two cores: measure once more after
        # waiting for quiet, and keep the run it disturbed least.
        _log(f"{server.name} {workload.id}: others used {result['background_cpu_cores']} cores; measuring again")
        wait_idle(server.roots, quiet_timeout=10)
        again = measure(server.port, server.roots, paths, workload.connections, seconds, warmup)
        result = min(result, again, key=lambda r: r["background_cpu_cores"])
        cell["remeasured"] = True
    cell.update(result)
    _log(f"{server.name} {workload.id}: {cell['rps']} req/s, p50 {cell['p50_ms']} ms, "
         f"p99 {cell['p99_ms']} ms, {cell['cpu_ms_per_req']} CPU ms/req, non-2xx {cell['non2xx']}")
    if isinstance(server, peers.Edge):
        metrics = server.metrics()
        if metrics:
            (peers.SCRATCH / "logs" / f"edge-metrics-{workload.id}.txt").write_text(metrics)
    return cell


def bench_server(name: str, workloads: list[Workload], corpus_dir: Path, args) -> tuple[dict, list[dict]]:
    """Run every selected workload on one server; (info, cells)."""
    server = peers.SERVERS[name](corpus_dir)
    info: dict = {"name": name}
    cells: list[dict] = []

    def skip_all(todo, reason):
        cells.extend({"server": name, "workload": w.id, "skipped": reason} for w in todo)

    try:
        server.install()
        info["versions"] = server.versions()
    except (peers.Unavailable, subprocess.CalledProcessError) as exc:
        _log(f"{name}: unavailable: {exc}")
        info["unavailable"] = str(exc)
        skip_all(workloads, str(exc))
        return info, cells

    # Cache-off workloads first, then a restart with the cache on.
    for cache in (False, True):
        todo = [w for w in workloads if w.cache == cache]
        for w in [w for w in todo if server.skip_reason(w)]:
            cells.append({"server": name, "workload": w.id, "skipped": server.skip_reason(w)})
        todo = [w for w in todo if not server.skip_reason(w)]
        if not todo:
            continue
        try:
            _log(f"starting {name} (cache {'on' if cache else 'off'})")
            server.start(cache)
        except peers.Unavailable as exc:
            _log(f"{name}: could not start: {exc}")
            skip_all(todo, f"could not start: {exc}")
            continue
        try:
            for w in todo:
                if any(p.poll() is not None for p in server.procs):
                    skip_all([w], "server process died earlier in the run")
                    continue
                try:
                    cells.append(run_cell(server, w, args))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    _log(f"{name} {w.id}: failed: {exc}")
                    cells.append({"server": name, "workload": w.id, "skipped": f"load run failed: {exc}"})
        finally:
            server.stop()
    return info, cells


def run_floor(corpus_dir: Path) -> tuple[dict, float]:
    """floor.py's figures and the other load meanwhile; run twice, keeping
    the less disturbed, if another job took BUSY_CORES or more."""
    best = None
    for attempt in range(2):
        _log("Pillow floor micro-benchmark" + (" again: the machine was busy" if attempt else ""))
        wait_idle([], quiet_timeout=10)  # give a busy neighbour a chance to finish first
        floor = json.loads(subprocess.run(
            [sys.executable, str(BENCH_DIR / "floor.py"), "--corpus", str(corpus_dir)],
            check=True, capture_output=True, text=True).stdout)
        background = floor.pop("background_cpu_cores")
        if best is None or background < best[1]:
            best = (floor, background)
        if background < BUSY_CORES:
            break
    return best


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "wrk": wrk[1] if len(wrk) > 1 else None}


def main() -> int:
    ap = argparse.ArgumentParser(description="Benchmark edge against thumbor and IPX on 127.0.0.1.")
    ap.add_argument("--seconds", type=float, default=10, help="measured seconds per workload (default 10)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default min(2, seconds/5))")
    ap.add_argument("--only", default="",
                    help="comma-separated workloads, e.g. W1,W3 (W1 also runs W1-same, W6 both W6 variants)")
    ap.add_argument("--servers", default="edge,thumbor,ipx", help="comma-separated subset of edge,thumbor,ipx")
    ap.add_argument("--out", type=Path, default=None,
                    help="write latest.json, performance.md and perf-chart.png here instead of "
                         "benchmarks/results/ and docs/")
    ap.add_argument("--corpus", type=Path, default=BENCH_DIR / ".corpus")
    ap.add_argument("--no-floor", action="store_true", help="skip the Pillow floor micro-benchmark")
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = min(2.0, args.seconds / 5)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(servers) - set(peers.SERVERS)
    if unknown:
        ap.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    workloads = select([o for o in args.only.split(",") if o.strip()])

    # SIGTERM -> SystemExit, so the finally blocks and atexit stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    try:
        _log(f"corpus in {args.corpus}")
        manifest = corpus.ensure(args.corpus.resolve())
        floor, floor_background = {}, None
        if not args.no_floor:
            floor, floor_background = run_floor(args.corpus.resolve())
        results = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "settings": {"seconds": args.seconds, "warmup": args.warmup, "workers": peers.WORKERS,
                         "servers": servers, "workloads": [w.id for w in workloads]},
            "workloads": [{"id": w.id, "title": w.title, "connections": w.connections, "urls": len(w.ops),
                           "cache": w.cache, "floor": w.floor} for w in workloads],
            "corpus": {"bytes": manifest["bytes"], "frame_durations_ms": manifest["frame_durations_ms"]},
            "floor": floor,
            "floor_background_cpu_cores": floor_background,
            "servers": {},
            "cells": [],
        }
        for name in servers:
            info, cells = bench_server(name, workloads, args.corpus.resolve(), args)
            results["servers"][name] = info
            results["cells"].extend(cells)
        results["elapsed_s"] = round(time.monotonic() - started)
        paths = report.write(results, args.out, REPO)
        _log("wrote " + ", ".join(str(p) for p in paths) + f" in {results['elapsed_s']} s")
        print(report.markdown_table(results))
    except KeyboardInterrupt:
        _log("interrupted; stopping the servers")
        return 130
    finally:
        peers.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
