"""W8: W1 with the originals in an S3 server, against W1 from a folder, in one run.

``python benchmarks/s3.py [--seconds 10] [--rounds 2] [--warmup 2]``

Starts moto's S3 server (tests/s3server.py: its own process, authenticated, on 127.0.0.1)
and puts W1's eight copies of the 4000x3000 JPEG in a private bucket, then starts edge
(2 workers, rendition cache off, as run.py does for miss workloads) with two buckets over
the same copies: `bench` (the folder) and `s3bench` (`s3://bench`). W1 and W8 take turns
on the same server, round after round, so that the machine's other load touches both alike.
Two configurations: "kept", the default `cache.originals_bytes` (an original downloaded once
is kept, as in production), and "cold", `originals_bytes = 0`, where every render downloads
its 3 MB original from the bucket. Writes benchmarks/results/s3.json (or --out) and prints a
Markdown table with W8's req/s over W1's (the goal: at least 0.9).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import corpus
import peers
import proctree
from load import measure
from workloads import select

BENCH_DIR = Path(__file__).resolve().parent
sys.path.append(str(BENCH_DIR.parent / "tests"))
from s3server import S3Server  # noqa: E402  (the tests' launcher of moto's server)


class EdgeOverS3(peers.Edge):
    """edge with the folder bucket `bench` and the S3 bucket `s3bench` over the same originals, on a
    port of its own (run.py's servers use 8090-8094)."""

    port = 8095
    ports = (8095,)

    def __init__(self, corpus_dir: Path, s3: S3Server, originals_bytes: int | None):
        super().__init__(corpus_dir)
        self.s3, self.originals_bytes = s3, originals_bytes

    def _launch(self, cache: bool) -> None:
        cfg = peers.SCRATCH / "edge-s3.toml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        kept = f"originals_bytes = {self.originals_bytes}\n" if self.originals_bytes is not None else ""
        cfg.write_text(
            "[server]\n"
            f'host = "{peers.HOST}"\nport = {self.port}\nworkers = {peers.WORKERS}\nqueue = 256\n'
            "access_log = false\n"
            f"[cache]\nmemory_bytes = 0\n{kept}"
            f'[buckets.bench]\nsource = "{self.corpus.as_uri()}"\n'
            f'[buckets.s3bench]\nsource = "s3://bench"\n[buckets.s3bench.s3]\n{self.s3.toml()}'
        )
        command, env = self._command()
        self.procs = [peers.spawn(self.log_name, [*command, "serve", "--config", str(cfg)], env=env)]
        peers.wait_ready("edge", self.procs, self.port, "/healthz")


def run(corpus_dir: Path, s3: S3Server, originals_bytes: int | None, args) -> list[dict]:
    """Rounds of W1 then W8 on one edge; one row per measurement."""
    w1 = select(["W1"])[0]
    server = EdgeOverS3(corpus_dir, s3, originals_bytes)
    server.start(cache=False)
    rows = []
    try:
        paths = {"W1": [server.path(op) for op in w1.ops]}
        paths["W8"] = [path.replace("/bench/", "/s3bench/", 1) for path in paths["W1"]]
        for path in paths["W1"] + paths["W8"]:
            status, headers, body = peers.http_get(server.port, path)
            if status != 200 or headers.get("content-type") != "image/jpeg":
                raise RuntimeError(f"edge answered {status} to {path}: {body[:200]!r}")
        for round_ in range(args.rounds):
            for workload in ("W1", "W8"):
                moto0, _ = proctree.tree_cpu_ms([s3.process.pid])
                result = measure(server.port, server.roots, paths[workload], w1.connections, args.seconds,
                                 args.warmup)
                moto1, _ = proctree.tree_cpu_ms([s3.process.pid])
                result.update(workload=workload, round=round_, originals="cold" if originals_bytes == 0 else "kept",
                              s3_server_cpu_ms_per_req=round((moto1 - moto0) / max(result["requests"], 1), 2))
                peers._log(f"{result['originals']} {workload} round {round_}: {result['rps']} req/s, "
                           f"p50 {result['p50_ms']} ms, {result['cpu_ms_per_req']} edge CPU ms/req, "
                           f"{result['s3_server_cpu_ms_per_req']} S3-server CPU ms/req, non-2xx {result['non2xx']}")
                rows.append(result)
    finally:
        server.stop()
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per configuration: the median req/s of W1 and W8 and their ratio."""
    out = []
    for originals in ("kept", "cold"):
        def median(workload: str, field: str) -> float:
            return statistics.median(r[field] for r in rows if r["originals"] == originals and r["workload"] == workload)

        out.append({"originals": originals, "w1_rps": median("W1", "rps"), "w8_rps": median("W8", "rps"),
                    "ratio": round(median("W8", "rps") / median("W1", "rps"), 3),
                    "w1_cpu_ms": median("W1", "cpu_ms_per_req"), "w8_cpu_ms": median("W8", "cpu_ms_per_req"),
                    "s3_server_cpu_ms": median("W8", "s3_server_cpu_ms_per_req")})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=BENCH_DIR / ".corpus")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "s3.json")
    args = ap.parse_args()
    corpus_dir = args.corpus.resolve()
    corpus.ensure(corpus_dir)
    (peers.SCRATCH / "logs").mkdir(parents=True, exist_ok=True)
    s3 = S3Server(peers.SCRATCH / "logs")
    try:
        client = s3.client()
        client.create_bucket(Bucket="bench")
        for op in select(["W1"])[0].ops:
            client.put_object(Bucket="bench", Key=op.key, Body=(corpus_dir / op.key).read_bytes(),
                              ContentType="image/jpeg")
        rows = run(corpus_dir, s3, None, args) + run(corpus_dir, s3, 0, args)
    finally:
        s3.stop()
    results = {"cores": len(os.sched_getaffinity(0)),
               "settings": vars(args) | {"corpus": str(args.corpus), "out": str(args.out)},
               "summary": summary(rows), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print("| originals | W1 req/s (folder) | W8 req/s (S3) | W8 / W1 | edge CPU ms/req W1, W8 | S3 server CPU ms/req |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for line in results["summary"]:
        print(f"| {line['originals']} | {line['w1_rps']} | {line['w8_rps']} | {line['ratio']} | {line['w1_cpu_ms']}, "
              f"{line['w8_cpu_ms']} | {line['s3_server_cpu_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
