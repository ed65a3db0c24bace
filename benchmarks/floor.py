"""Per-image floor: the bare Pillow work of each workload, in one process.

Contract: ``python benchmarks/floor.py [--corpus DIR] [--budget S]`` prints
one JSON object: {name: {"wall_ms", "cpu_ms", "runs", "ceiling_rps"}, ...,
"background_cpu_cores": float},
where each time is the median over runs of one image's decode-resize-encode
from bytes in memory (no HTTP, no file I/O), and ``ceiling_rps`` is what
two cores could serve at that CPU cost (2000 / cpu_ms).  CPU ms is the
figure to compare with a server's CPU ms per request: the AVIF and HEIC
encoders use threads, so their wall time can be below their CPU time.

The work is what a careful server does: JPEG sources are decoded with
``draft()`` (libjpeg's DCT scaling to the smallest size >= the target; W1
is also timed without it), resized with LANCZOS, and encoded with the
workload's quality and Pillow's defaults otherwise (GIF frames are
quantized with FASTOCTREE, see ``animated``).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import pillow_heif
from PIL import Image

from proctree import machine_busy_ms
from workloads import SOURCES, W7_WIDTHS, WORKLOADS

pillow_heif.register_heif_opener()


def _open(data: bytes, size: tuple[int, int], draft: bool) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    if draft and im.format == "JPEG":
        im.draft("RGB", size)
    return im


def still(data: bytes, width: int, height: int | None, fmt: str, quality: int | None, draft: bool = True) -> bytes:
    """Decode, fit inside width x height (height None = keep aspect), encode."""
    im = _open(data, (width, height or 1), draft)
    h = height or round(im.height * width / im.width)
    if height:  # fit inside the box
        scale = min(width / im.width, height / im.height)
        width, h = round(im.width * scale), round(im.height * scale)
    out = im.resize((width, h), Image.LANCZOS)
    buf = io.BytesIO()
    kwargs = {"quality": quality} if quality else {}
    out.save(buf, format={"jpg": "JPEG", "webp": "WEBP", "png": "PNG", "heic": "HEIF", "avif": "AVIF"}[fmt], **kwargs)
    return buf.getvalue()


def animated(data: bytes, width: int) -> bytes:
    """Resize every frame of an animated GIF and re-encode it, keeping durations."""
    im = Image.open(io.BytesIO(data))
    h = round(im.height * width / im.width)
    frames, durations = [], []
    for i in range(im.n_frames):
        im.seek(i)
        durations.append(im.info.get("duration", 100))
        frame = im.convert("RGB").resize((width, h), Image.LANCZOS)
        # Pillow would otherwise quantize each frame with MEDIANCUT on save,
        # ~7x slower (560 vs 76 ms here) for no visible gain at this size.
        frames.append(frame.quantize(method=Image.Quantize.FASTOCTREE))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buf.getvalue()


def cases(corpus: Path) -> dict:
    """name -> zero-argument function doing one image's work."""
    read = lambda key: (corpus / key).read_bytes()  # noqa: E731 - tiny local helper
    by_id = {w.id: w.ops[0] for w in WORKLOADS}
    out = {}
    for wid in ("W1", "W2", "W3", "W6-heic", "W6-avif"):
        op = by_id[wid]
        data = read(op.key)
        out[wid] = (lambda d=data, o=op: still(d, o.width, o.height, o.fmt, o.quality))
    w1 = by_id["W1"]
    w1_data = read(w1.key)
    out["W1-nodraft"] = lambda: still(w1_data, w1.width, None, w1.fmt, w1.quality, draft=False)
    gif = read(by_id["W4"].key)
    out["W4"] = lambda: animated(gif, by_id["W4"].width)
    # W7's mix: one 4000x3000 source at each of the six widths, averaged by
    # running all six per "image" and dividing by six afterwards.
    w7 = read(next(k for k in SOURCES if k.startswith("w7/")))
    out["W7"] = lambda: [still(w7, w, None, "jpg", 80) for w in W7_WIDTHS]
    return out


def measure(fn, budget_s: float, min_runs: int = 5) -> tuple[float, float, int]:
    """Median (wall ms, CPU ms) over at least ``min_runs`` runs or ``budget_s``."""
    fn()  # warm caches and lazy imports
    walls, cpus = [], []
    start = time.perf_counter()
    while len(walls) < min_runs or time.perf_counter() - start < budget_s:
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - w0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    return statistics.median(walls), statistics.median(cpus), len(walls)


def run(corpus: Path, budget_s: float) -> dict:
    """Every case's figures, plus "background_cpu_cores": what the rest of the
    machine used meanwhile (a busy neighbour slows even CPU-time figures,
    through shared caches and memory bandwidth)."""
    results = {}
    busy0, own0, wall0 = machine_busy_ms(), time.process_time(), time.monotonic()
    for name, fn in cases(corpus).items():
        wall, cpu, runs = measure(fn, budget_s)
        per = len(W7_WIDTHS) if name == "W7" else 1
        wall, cpu = wall / per, cpu / per
        results[name] = {"wall_ms": round(wall, 2), "cpu_ms": round(cpu, 2), "runs": runs,
                         "ceiling_rps": round(2000 / cpu, 1)}
    other_ms = machine_busy_ms() - busy0 - (time.process_time() - own0) * 1000
    results["background_cpu_cores"] = round(max(0.0, other_ms) / ((time.monotonic() - wall0) * 1000), 2)
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parent / ".corpus")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timing per case (default 1.0)")
    args = ap.parse_args()
    print(json.dumps(run(args.corpus, args.budget), indent=1))
