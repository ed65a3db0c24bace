"""edge against edge on one workload: access log off and on, this tree and another, in one run.

``python benchmarks/compare.py [--workload W5] [--logs off,on] [--tree DIR]
[--baseline DIR] [--seconds 10] [--rounds 3]``

Starts edge (rendition cache on only for W5, as run.py does) with each
access-log setting, from the installed package (or --tree DIR) and with
--baseline also from the package in DIR (another commit's tree:
``git archive HEAD~1 | tar -x -C DIR``), and loads the
workload with wrk exactly as run.py does.  The variants take turns, round
after round, so that a change in the machine's other load touches them all
alike; the medians over the rounds are reported, with each variant's req/s
over the first one's.  The access lines go to
.scratch/logs/edge-accesslog.log, a file, as in a deployment that logs to
disk; they are counted, and that file is removed after each measurement.
Writes benchmarks/results/compare-<workload>.json (or --out) and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import corpus
import peers
from load import measure
from workloads import Workload, select

BENCH_DIR = Path(__file__).resolve().parent


def _line_count(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b" INFO aiohttp.access: ") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def one(corpus_dir: Path, workload: Workload, code: Path | None, access_log: bool, args) -> dict:
    """One measurement of a freshly started edge."""
    server = peers.Edge(corpus_dir, access_log=access_log, code=code)
    log = peers.SCRATCH / "logs" / f"{server.log_name}.log"
    if access_log:  # a fresh file to count the lines in
        log.unlink(missing_ok=True)
    server.start(cache=workload.cache)
    try:
        for op in workload.ops:
            status, _, _ = peers.http_get(server.port, server.path(op))
            if status != 200:
                raise RuntimeError(f"edge answered {status} to {server.path(op)}")
        result = measure(server.port, server.roots, [server.path(op) for op in workload.ops],
                         workload.connections, args.seconds, args.warmup)
    finally:
        server.stop()
    lines = None
    if access_log:  # ~15 MB per 10 s of W5
        lines = _line_count(log)
        log.unlink(missing_ok=True)
    return {"rps": result["rps"], "cpu_ms_per_req": result["cpu_ms_per_req"], "p99_ms": result["p99_ms"],
            "requests": result["requests"], "non2xx": result["non2xx"], "log_lines": lines,
            "background_cpu_cores": result["background_cpu_cores"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="W5", help="one workload id (default W5: cache hits)")
    ap.add_argument("--logs", default="off,on", help="access-log settings to run (default off,on)")
    ap.add_argument("--tree", type=Path, default=None,
                    help="measure the edge package in this folder instead of the installed one")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also measure the edge package in this folder (another commit's tree)")
    ap.add_argument("--seconds", type=float, default=10, help="measured seconds per measurement (default 10)")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds per measurement (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="measurements of each variant (default 3)")
    ap.add_argument("--corpus", type=Path, default=BENCH_DIR / ".corpus")
    ap.add_argument("--out", type=Path, default=None, help="default benchmarks/results/compare-<workload>.json")
    args = ap.parse_args()
    workload = next((w for w in select([args.workload]) if w.id.upper() == args.workload.upper()), None)
    if workload is None:
        ap.error(f"not one workload: {args.workload}")
    logs = [{"off": False, "on": True}[v.strip()] for v in args.logs.split(",")]
    corpus_dir = args.corpus.resolve()
    corpus.ensure(corpus_dir)
    codes = {"this tree": args.tree and args.tree.resolve()}
    if args.baseline:
        codes["baseline"] = args.baseline.resolve()
    variants = [(f"{name}, log {'on' if log else 'off'}", code, log) for name, code in codes.items() for log in logs]
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in variants}
    try:
        for round_no in range(1, args.rounds + 1):
            for label, code, log in variants:
                r = one(corpus_dir, workload, code, log, args)
                runs[label].append(r)
                print(f"[compare {time.strftime('%H:%M:%S')}] {workload.id} round {round_no}, {label}: "
                      f"{r['rps']} req/s, {r['cpu_ms_per_req']} CPU ms/req, {r['requests']} requests, "
                      f"{r['log_lines']} log lines, others {r['background_cpu_cores']} cores",
                      file=sys.stderr, flush=True)
    finally:
        peers.stop_all()
    summary = {label: {key: statistics.median(r[key] for r in rs) for key in ("rps", "cpu_ms_per_req", "p99_ms")}
               for label, rs in runs.items()}
    out = args.out or BENCH_DIR / "results" / f"compare-{workload.id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                    "workload": workload.id, "seconds": args.seconds, "rounds": args.rounds,
                                    "summary": summary, "runs": runs}, indent=1) + "\n")
    first = summary[variants[0][0]]
    print(f"{workload.id}, medians of {args.rounds} rounds of {args.seconds:g} s\n")
    print("| edge | req/s | CPU ms/req | p99 ms | req/s ÷ first row |")
    print("|---|--:|--:|--:|--:|")
    for label, s in summary.items():
        print(f"| {label} | {s['rps']:,.1f} | {s['cpu_ms_per_req']:.3f} | {s['p99_ms']:.1f} "
              f"| {s['rps'] / first['rps']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
