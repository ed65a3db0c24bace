"""W7: what deriving a srcset's widths from one decode would save, and how far it drifts.

``python benchmarks/derive.py [--corpus DIR] [--sources N]``

For each of the first N W7 sources (4000x3000 JPEGs) it makes W7's six widths
(JPEG q80, optimized baseline, as edge encodes) two ways, in one process:

- *alone*, as edge makes each URL (jpeg.py's ``resized``: ``draft`` to the
  smallest DCT scale that covers the width, then LANCZOS): one decode per
  width, at 1/8, 1/4 or 1/2 scale;
- *derived*: one decode at the scale the largest width needs, and, for the
  smaller widths, ``reduce()`` of it by the power of two that the DCT scale
  would have given, then the same LANCZOS.  This is the cheapest way to serve
  the burst from one decode.

It prints one JSON object: CPU ms per rendition of both (median over the
sources) and, per width, the lowest SSIM (luma, 7x7 windows) of a derived
answer against the one made alone.  The issue's bar for reuse is SSIM >= 0.99
against the one-at-a-time rendition, and edge's strong ETag names one set of
bytes per URL.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

from PIL import Image

from jpeg import _luma, encode, resized, ssim
from workloads import SOURCES, W7_WIDTHS

BENCH_DIR = Path(__file__).resolve().parent


def alone(data: bytes) -> dict[int, bytes]:
    return {w: encode(resized(data, w), optimize=True) for w in W7_WIDTHS}


def derived(data: bytes) -> dict[int, bytes]:
    im = Image.open(io.BytesIO(data))
    full_width, full_height = im.size
    im.draft("RGB", (max(W7_WIDTHS), 1))
    im.load()
    out = {}
    for w in W7_WIDTHS:
        h = round(full_height * w / full_width)
        factor = 1
        while im.width // (factor * 2) >= w:  # what a smaller DCT scale would have given
            factor *= 2
        base = im.reduce(factor) if factor > 1 else im
        out[w] = encode(base.resize((w, h), Image.Resampling.LANCZOS), optimize=True)
    return out


def cpu_ms(make, data: bytes) -> tuple[float, dict[int, bytes]]:
    start = time.process_time()
    answers = make(data)
    return (time.process_time() - start) * 1000, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=BENCH_DIR / ".corpus")
    ap.add_argument("--sources", type=int, default=6, help="how many W7 sources to use (default 6)")
    args = ap.parse_args()
    keys = sorted(k for k in SOURCES if k.startswith("w7/"))[: args.sources]
    times = {"alone": [], "derived": []}
    worst = {w: 1.0 for w in W7_WIDTHS}
    for key in keys:
        data = (args.corpus / key).read_bytes()
        ms, made_alone = cpu_ms(alone, data)
        times["alone"].append(ms / len(W7_WIDTHS))
        ms, made_derived = cpu_ms(derived, data)
        times["derived"].append(ms / len(W7_WIDTHS))
        for w in W7_WIDTHS:
            worst[w] = min(worst[w], ssim(_luma(made_alone[w]), _luma(made_derived[w])))
    print(json.dumps({
        "sources": len(keys),
        "cpu_ms_per_rendition": {k: round(statistics.median(v), 1) for k, v in times.items()},
        "lowest_ssim_vs_alone": {str(w): round(s, 4) for w, s in worst.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
