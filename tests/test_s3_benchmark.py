"""benchmarks/s3.py (W8: W1 with its originals in an S3 server), end to end and shortened. Slow."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from proctree import tree

pytestmark = pytest.mark.slow


def test_w8_runs_beside_w1_and_stops_what_it_started(tmp_path):
    before = set(tree([os.getpid()]))
    run = subprocess.run([sys.executable, "benchmarks/s3.py", "--seconds", "1", "--warmup", "0.5", "--rounds", "1",
                          "--out", str(tmp_path / "s3.json")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(tree([os.getpid()])) == before
    results = json.loads((tmp_path / "s3.json").read_text())
    assert [(r["originals"], r["workload"]) for r in results["rows"]] == [
        ("kept", "W1"), ("kept", "W8"), ("cold", "W1"), ("cold", "W8")]
    for row in results["rows"]:
        assert row["requests"] > 0 and row["non2xx"] == 0 and not row["socket_errors"], row
    cold_w8 = results["rows"][3]
    assert cold_w8["s3_server_cpu_ms_per_req"] > 0  # every render downloaded its original
    assert all(line["ratio"] > 0 for line in results["summary"])
    assert "| kept |" in run.stdout and "| cold |" in run.stdout
