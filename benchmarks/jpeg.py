"""JPEG encoder settings: what Huffman optimisation costs and saves on the workloads' JPEGs.

``python benchmarks/jpeg.py [--corpus DIR] [--budget S] [--servers edge,thumbor]``

For W1 (4000x3000 -> 300w), a W2-like JPEG (1920x1080 -> 800w) and W7's six
widths, all q80, it times in one process, as edge's worker does them: the
decode (with ``draft``), the LANCZOS resize, and the baseline (not
progressive) encode with ``optimize`` False and True; CPU ms are medians.
It checks that both encodes decode to the same pixels (optimisation only
rebuilds the Huffman tables) and prints their sizes.

With ``--servers`` it also starts those servers (peers.py, 127.0.0.1, cache
off), fetches each case from them and compares the answers' sizes and SSIM
(luma, 7x7 windows) against a reference made without draft, from the full
decode, and never quantised: the same yardstick for every server.  Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

import peers
from workloads import SOURCES, W7_WIDTHS, Op

BENCH_DIR = Path(__file__).resolve().parent
QUALITY = 80


def cases() -> dict[str, list[Op]]:
    w7 = next(k for k in SOURCES if k.startswith("w7/"))
    return {
        "W1": [Op("w1.jpg", 300, fmt="jpg", quality=QUALITY)],
        "W2-jpg": [Op("w2.jpg", 800, fmt="jpg", quality=QUALITY)],
        "W7": [Op(w7, w, fmt="jpg", quality=QUALITY) for w in W7_WIDTHS],
    }


def resized(data: bytes, width: int, draft: bool = True) -> Image.Image:
    """The source at `width` (aspect kept), as edge makes it: draft, then LANCZOS."""
    im = Image.open(io.BytesIO(data))
    height = round(im.height * width / im.width)
    if draft:
        im.draft("RGB", (width, height))
    return im.convert("RGB").resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0 if draft else None)


def encode(im: Image.Image, optimize: bool) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=QUALITY, optimize=optimize, progressive=False)
    return out.getvalue()


def cpu_ms(fn, budget_s: float, min_runs: int = 5) -> float:
    """Median CPU ms of `fn()` over at least `min_runs` runs or `budget_s` seconds."""
    fn()
    runs, start = [], time.perf_counter()
    while len(runs) < min_runs or time.perf_counter() - start < budget_s:
        c0 = time.process_time()
        fn()
        runs.append((time.process_time() - c0) * 1000)
    return statistics.median(runs)


def timings(corpus: Path, ops: list[Op], budget_s: float) -> dict:
    """Per op: decode+resize and both encodes (CPU ms), both sizes; summed over the ops."""
    totals = {"decode_resize_ms": 0.0, "encode_ms": 0.0, "encode_optimized_ms": 0.0,
              "bytes": 0, "bytes_optimized": 0}
    for op in ops:
        data = (corpus / op.key).read_bytes()
        small = resized(data, op.width)
        plain, optimized = encode(small, False), encode(small, True)
        same = np.array_equal(np.asarray(Image.open(io.BytesIO(plain))), np.asarray(Image.open(io.BytesIO(optimized))))
        if not same:
            raise AssertionError(f"{op.key} w{op.width}: optimize changed the decoded pixels")
        totals["decode_resize_ms"] += cpu_ms(lambda: resized(data, op.width), budget_s)
        totals["encode_ms"] += cpu_ms(lambda: encode(small, False), budget_s)
        totals["encode_optimized_ms"] += cpu_ms(lambda: encode(small, True), budget_s)
        totals["bytes"] += len(plain)
        totals["bytes_optimized"] += len(optimized)
    n = len(ops)
    out = {k: round(v / n, 2) for k, v in totals.items()}
    whole = out["decode_resize_ms"] + out["encode_ms"]
    out["extra_cpu_of_whole"] = round((out["encode_optimized_ms"] - out["encode_ms"]) / whole, 4)
    out["size_saved"] = round(1 - totals["bytes_optimized"] / totals["bytes"], 4)
    return out


def _luma(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)


def _box(a: np.ndarray, k: int) -> np.ndarray:
    """Means over every k x k window (valid positions only), via an integral image."""
    s = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray, k: int = 7) -> float:
    """Mean SSIM of two same-size luma images (Wang et al. 2004 constants, uniform k x k windows)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _box(a, k), _box(b, k)
    va, vb, cov = _box(a * a, k) - ma * ma, _box(b * b, k) - mb * mb, _box(a * b, k) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))).mean())


def served(corpus: Path, names: list[str], all_cases: dict[str, list[Op]]) -> dict:
    """Per server and case: summed answer bytes and mean SSIM against the no-draft reference."""
    refs = {}
    for case, ops in all_cases.items():
        for op in ops:
            ref = io.BytesIO()
            resized((corpus / op.key).read_bytes(), op.width, draft=False).save(ref, "PNG")
            refs[(case, op)] = _luma(ref.getvalue())
    out = {}
    for name in names:
        server = peers.SERVERS[name](corpus)
        server.install()
        server.start(cache=False)
        try:
            for case, ops in all_cases.items():
                sizes, scores = [], []
                for op in ops:
                    status, _, body = peers.http_get(server.port, server.path(op))
                    if status != 200:
                        raise RuntimeError(f"{name} answered {status} to {server.path(op)}")
                    sizes.append(len(body))
                    scores.append(ssim(refs[(case, op)], _luma(body)))
                out.setdefault(case, {})[name] = {"bytes": round(statistics.mean(sizes)),
                                                  "ssim": round(statistics.mean(scores), 4)}
        finally:
            server.stop()
    return out


def served_if_asked(corpus: Path, servers: str, all_cases: dict[str, list[Op]]) -> dict:
    """{"served": ...} (see `served`) for the comma-separated `servers`, {} for none; stops them all after."""
    names = [s.strip() for s in servers.split(",") if s.strip()]
    if not names:
        return {}
    try:
        return {"served": served(corpus, names, all_cases)}
    finally:
        peers.stop_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=BENCH_DIR / ".corpus")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timing per measurement (default 1)")
    ap.add_argument("--servers", default="", help="also compare the answers of these servers, e.g. edge,thumbor")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    all_cases = cases()
    result = {"encode": {case: timings(corpus, ops, args.budget) for case, ops in all_cases.items()}}
    print(json.dumps(result | served_if_asked(corpus, args.servers, all_cases), indent=1))


if __name__ == "__main__":
    main()
