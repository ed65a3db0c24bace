"""The benchmark harness, end to end: the README's command, shortened, against all three servers.

Slow (it installs thumbor and IPX on first use, and loads each server for a few seconds), so it
runs with `pytest -m slow`, as .ci/run does. It checks that one run measures every server on
the same workloads, that the answers were checked, that ratios and the floor are reported,
and that every server it started is gone afterwards. Traffic goes to 127.0.0.1 only.
"""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT
from proctree import tree

SERVERS = ("edge", "thumbor", "ipx")

pytestmark = pytest.mark.slow


def test_one_run_measures_edge_thumbor_and_ipx_side_by_side(tmp_path):
    out = tmp_path / "bench"
    before = set(tree([os.getpid()]))
    run = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--servers", ",".join(SERVERS), "--only", "W1,W5",
         "--seconds", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(tree([os.getpid()])) == before  # every server the harness started is stopped

    results = json.loads((out / "latest.json").read_text())
    cells = {(c["workload"], c["server"]): c for c in results["cells"]}
    assert set(cells) == {(w, s) for w in ("W1", "W1-same", "W5") for s in SERVERS}
    assert "no result cache" in cells[("W5", "ipx")]["skipped"]
    for key, cell in cells.items():
        if "skipped" in cell:
            continue
        assert cell["valid"] and not cell["errors"], (key, cell["errors"])
        assert cell["non2xx"] == 0 and cell["requests"] > 0, key
        assert 0 < cell["p50_ms"] <= cell["p99_ms"], key
        assert cell["cpu_ms_per_req"] > 0 and cell["peak_rss_mib"] > 0 and cell["peak_pss_mib"] > 0, key
    # thumbor runs as two processes behind nginx: both must have worked.
    thumbors = [cpu for name, _, cpu in cells[("W1", "thumbor")]["per_process"] if name == "thumbor"]
    assert len(thumbors) == 2 and min(thumbors) > 0.25 * max(thumbors)
    edge_workers = [cpu for name, _, cpu in cells[("W1", "edge")]["per_process"] if name != "edge"]
    assert len(edge_workers) == 2 and min(edge_workers) > 0.25 * max(edge_workers)

    assert results["floor"]["W1"]["cpu_ms"] > 0
    assert set(results["ratios"]["W1"]) == {"thumbor", "ipx"}
    assert results["ratios"]["W1"]["thumbor"]["rps"] > 0
    page = (out / "performance.md").read_text()
    assert "| W1 | edge |" in page and "| W5 | IPX | – |" in page and "skipped" in page
    assert Image.open(out / "perf-chart.png").format == "PNG"
