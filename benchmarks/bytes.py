"""Bytes at a given visual quality: edge's renditions and transcodes against the anchor encoders.

``python benchmarks/bytes.py [--quick]`` runs, in one process, over benchmarks/bytes_corpus.py:

- renditions: each photograph (as a PNG) resized to half width by edge (its worker's render
  function) as jpg, heic, avif and webp at the default quality and at JPEG-scale 50, 70 and 95
  (heic, avif and webp also with [compression] effort = "small");
  the reference is the PNG rendition. The anchors encode that reference: cwebp, heif-enc and
  avifenc at three settings each, interpolated to the score of edge's rendition.
- graphics: the drawn stills (screenshot, chart, logo with alpha, scanned text) in every format
  at the default quality, PNG included, scored against the source.
- /j2h: each photograph saved as JPEG q75 and q90 and transcoded by /j2h's pipeline at full size,
  against heif-enc -q 50 on the same JPEG; scores against the photograph itself.
- GIF -> WebP: each GIF by /g2w's pipeline against gif2webp (lossless, -mixed, -lossy at
  -q 50/75/90); scores against the GIF's frames (every 3rd), and for the video-like GIFs also
  against the clip they were made from.
- GIF -> WebP resized: each GIF at half width (the demo's animated.gif at 160) as edge's WebP and
  GIF renditions, and gif2webp (lossless, -min_size, -lossy at -q 50/75/90) on that GIF rendition;
  scores against the resized frames.

Bytes, SSIMULACRA2, SSIM and CPU ms (edge: its render call, decode and resize included; anchors:
the child process's user+system time, encode only). Writes benchmarks/results/bytes.json, the
charts docs/compression-photos.png and docs/compression-gifs.png, and the tables between the
markers of docs/compression.md.

``python benchmarks/bytes.py --calibrate [--effort small]`` measures the quality mapping of
edge/codecs.py (CALIBRATION, or CALIBRATION_SMALL for [compression] effort "small"): for every
photograph of benchmarks/bytes_corpus.py at its shipped size and at half size, the SSIMULACRA2
score of JPEG at each quality and of HEIC, AVIF and WebP at each of their settings (encoded as
edge encodes them), and for each JPEG quality the setting of each format that
scores the same, the median over the photographs. Prints the table as Python.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge import codecs, registry  # noqa: E402
from edge.config import Limits  # noqa: E402
from edge.demo import bouncing_ball  # noqa: E402
from edge.jobs import RenderBatch, RenderJob  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.render import render_batch  # noqa: E402

import bytes_corpus  # noqa: E402
import bytes_report  # noqa: E402
import visual  # noqa: E402

JPEG_STEPS = (20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
ENCODER_STEPS = tuple(range(5, 100, 5)) + (100,)
_PILLOW = {"heic": "HEIF", "avif": "AVIF", "webp": "WEBP", "jpg": "JPEG"}


def encode(im: Image.Image, name: str, quality: int, effort: str = "fast") -> bytes:
    """`im` written as edge writes `name` (jpg, heic, avif, webp) at that encoder's own `quality`."""
    options = {"quality": quality, "optimize": True} if name == "jpg" else codecs.encoder_options(name, quality, effort)
    return codecs.write([im], _PILLOW[name], options)


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") else "RGB")


def calibration_images() -> dict[str, Image.Image]:
    """Every photograph at its shipped size and at half size, but the 1411x1411 retina (scoring it
    costs 8x a 512x512 photograph, and a fundus photograph is the least typical of them)."""
    images = {}
    for name, photo in bytes_corpus.photos().items():
        if name == "retina":
            continue
        images[name] = photo
        images[f"{name}/2"] = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS)
    return images


def _crossing(qualities: tuple[int, ...], scores: list[float], target: float) -> float:
    """The quality where the (made non-decreasing) score curve reaches `target`, clamped to the ends."""
    curve = np.maximum.accumulate(np.asarray(scores))
    if target <= curve[0]:
        return float(qualities[0])
    if target >= curve[-1]:
        return float(qualities[-1])
    return float(np.interp(target, curve + np.arange(len(curve)) * 1e-9, qualities))


def calibrate(formats: tuple[str, ...] = codecs.CALIBRATED, effort: str = "fast") -> dict:
    """{"scores": {image: {format: [score per step]}}, "table": {format: [[jpeg q, encoder q], ...]}}."""
    scores: dict[str, dict[str, list[float]]] = {}
    for key, im in calibration_images().items():
        row = {"jpg": [visual.ssimulacra2(im, decoded(encode(im, "jpg", q))) for q in JPEG_STEPS]}
        for name in formats:
            row[name] = [visual.ssimulacra2(im, decoded(encode(im, name, q, effort))) for q in ENCODER_STEPS]
        scores[key] = row
        print(key, {k: [round(s, 1) for s in v] for k, v in row.items()}, file=sys.stderr, flush=True)
    table = {}
    for name in formats:
        points = []
        for i, q in enumerate(JPEG_STEPS):
            equal = [_crossing(ENCODER_STEPS, row[name], row["jpg"][i]) for row in scores.values()]
            points.append([q, round(statistics.median(equal))])
        for j in range(1, len(points)):  # a higher JPEG quality never maps lower
            points[j][1] = max(points[j][1], points[j - 1][1])
        table[name] = points
    return {"scores": scores, "table": table}


REPO = Path(__file__).resolve().parent.parent
RENDITION_QUALITIES = (50, 70, 95)  # JPEG-scale Q_ beside the default, for the curves
SMALL = ("heic", "avif", "webp")  # measured again with [compression] effort = "small"
ANCHORS = {  # format: (tool, its settings, best first for the curve)
    "webp": ("cwebp", (50, 75, 90)),
    "heic": ("heif-enc", (30, 50, 70)),
    "avif": ("avifenc", (40, 30, 20)),  # quantizer, lower is better
}
GIF2WEBP_LOSSY = (50, 75, 90)


def rendition(source: bytes, process: str, effort: str = "fast") -> tuple[bytes, float]:
    """edge's rendition of `source` for `process` (as a worker makes it, with [compression] `effort`)
    and its CPU ms."""
    made = []
    job = RenderJob(Pipeline.parse(process), Limits(), effort=effort)
    start = time.process_time()
    render_batch(RenderBatch((job,)), source, lambda message, body: made.append((message, body)))
    ms = (time.process_time() - start) * 1000
    message, body = made[0]
    if message.status != "ok":
        raise RuntimeError(f"{process}: {message.error}")
    return body, ms


def tool(argv: list[str], out: Path) -> tuple[bytes, float]:
    """Run an anchor encoder; its output bytes and its CPU ms (user + system, all threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out.read_bytes(), (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def anchor(name: str, setting: int, source: Path, work: Path) -> tuple[bytes, float]:
    out = work / f"anchor.{name}"
    argv = {
        "webp": ["cwebp", "-quiet", "-q", str(setting), "-m", "4", str(source), "-o", str(out)],
        "heic": ["heif-enc", "-q", str(setting), str(source), "-o", str(out)],
        "avif": ["avifenc", "-j", "1", "-s", "8", "--min", str(setting), "--max", str(setting), str(source), str(out)],
        "gif": ["gif2webp", "-quiet", *(["-lossy", "-q", str(setting)] if isinstance(setting, int) else setting),
                str(source), "-o", str(out)],
    }[name]
    return tool(argv, out)


def png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=1)
    return out.getvalue()


def point(reference: Image.Image, body: bytes, ms: float, pixels: int) -> dict:
    got = decoded(body)
    return {"bytes": len(body), "bpp": 8 * len(body) / pixels, "ssimulacra2": visual.ssimulacra2(reference, got),
            "ssim": visual.ssim(reference, got), "cpu_ms": ms}


def renditions(photos: dict[str, Image.Image], work: Path) -> dict:
    out = {}
    for name, photo in photos.items():
        source = png(photo)
        width = photo.width // 2
        base = f"image/resize,w_{width}"
        reference = decoded(rendition(source, f"{base}/format,png")[0])
        pixels = reference.width * reference.height
        (work / "ref.png").write_bytes(png(reference))
        row = {}
        for fmt, effort in [(f, "fast") for f in ("jpg", "heic", "avif", "webp")] + [(f, "small") for f in SMALL]:
            key = fmt if effort == "fast" else f"{fmt} small"
            row[key] = {"default": point(reference, *rendition(source, f"{base}/format,{fmt}", effort), pixels)}
            for q in RENDITION_QUALITIES:
                row[key][str(q)] = point(reference, *rendition(source, f"{base}/format,{fmt}/quality,Q_{q}", effort),
                                         pixels)
        for fmt, (_, settings) in ANCHORS.items():
            row[f"{fmt}-anchor"] = [dict(point(reference, *anchor(fmt, q, work / "ref.png", work), pixels), setting=q)
                                    for q in settings]
        out[name] = row
        print(name, {f: round(row[f]["default"]["bytes"] / row["jpg"]["default"]["bytes"], 2)
                     for f in ("heic", "avif", "webp")}, file=sys.stderr, flush=True)
    return out


def graphics() -> dict:
    """Stills that are not photographs, at their size, in every format at the default quality
    (PNG included), scored against the source (a transparent one is not written as JPEG)."""
    out = {}
    for name, im in bytes_corpus.graphics().items():
        source = png(im)
        pixels = im.width * im.height
        formats = ("png", "webp", "heic", "avif") + (() if im.mode == "RGBA" else ("jpg",))
        out[name] = {fmt: point(im, *rendition(source, f"image/format,{fmt}"), pixels) for fmt in formats}
        print(name, {f: p["bytes"] for f, p in out[name].items()}, file=sys.stderr, flush=True)
    return out


def j2h(photos: dict[str, Image.Image], work: Path) -> dict:
    out = {}
    for name, photo in photos.items():
        for quality in (75, 90):
            jpeg = io.BytesIO()
            photo.save(jpeg, "JPEG", quality=quality)
            source = jpeg.getvalue()
            (work / "source.jpg").write_bytes(source)
            pixels = photo.width * photo.height
            row = {"jpeg": point(photo, source, 0.0, pixels),
                   "edge": point(photo, *rendition(source, "image/format,heic/quality,q_100"), pixels),
                   "edge small": point(photo, *rendition(source, "image/format,heic/quality,q_100", "small"), pixels),
                   "heif-enc -q 50": point(photo, *anchor("heic", 50, work / "source.jpg", work), pixels)}
            out[f"{name} q{quality}"] = row
            print(name, quality, round(row["edge"]["bytes"] / row["jpeg"]["bytes"], 2), file=sys.stderr, flush=True)
    return out


def gif_point(frames: list[Image.Image], body: bytes, ms: float, gif_bytes: int, clip=None) -> dict:
    got = bytes_corpus.gif_frames(body)
    picked = range(0, len(frames), 3)
    result = {"bytes": len(body), "share": len(body) / gif_bytes, "cpu_ms": ms,
              "ssimulacra2": statistics.mean(visual.ssimulacra2(frames[i], got[i]) for i in picked),
              "ssim": statistics.mean(visual.ssim(frames[i], got[i]) for i in picked)}
    if clip is not None:
        result["vs_clip"] = statistics.mean(visual.ssimulacra2(clip[i], got[i]) for i in picked)
    return result


def gifs(work: Path) -> dict:
    out = {}
    clips = bytes_corpus.clips()
    for gif in bytes_corpus.gifs():
        path = work / "source.gif"
        path.write_bytes(gif.data)
        frames = bytes_corpus.gif_frames(gif.data)
        clip = clips.get(gif.name)
        row = {"kind": gif.kind, "gif_bytes": len(gif.data), "frames": len(frames),
               "edge": gif_point(frames, *rendition(gif.data, "image/format,webp"), len(gif.data), clip),
               "gif2webp": gif_point(frames, *anchor("gif", (), path, work), len(gif.data), clip),
               "gif2webp -mixed": gif_point(frames, *anchor("gif", ("-mixed",), path, work), len(gif.data), clip)}
        row["gif2webp -lossy"] = [dict(gif_point(frames, *anchor("gif", q, path, work), len(gif.data), clip), setting=q)
                                  for q in GIF2WEBP_LOSSY]
        if clip is not None:
            row["gif_vs_clip"] = statistics.mean(visual.ssimulacra2(clip[i], frames[i].convert("RGB"))
                                                 for i in range(0, len(frames), 3))
            row["edge_curve"] = [dict(gif_point(frames, *rendition(gif.data, f"image/format,webp/quality,Q_{q}"),
                                                len(gif.data), clip), setting=q) for q in (50, 85)]
        out[gif.name] = row
        print(gif.name, round(row["edge"]["share"], 3), file=sys.stderr, flush=True)
    return out


def resized_gifs(work: Path) -> dict:
    """Each GIF at half width (and the demo's animated.gif at 160 wide), as /g2w and format,webp make
    it after a resize: edge's WebP and its GIF rendition, and gif2webp (lossless, -min_size, -lossy
    at -q 50/75/90) on that GIF rendition; all scored against the resized frames themselves (every
    frame resized as edge resizes, kept losslessly)."""
    out = {}
    ball = bouncing_ball(320, 180, 12)  # edge/demo.py's animated.gif
    demo = io.BytesIO()
    ball[0].save(demo, "GIF", save_all=True, append_images=ball[1:], duration=80, loop=0)
    sources = [(gif.name, gif.kind, gif.data) for gif in bytes_corpus.gifs()] + [("demo animated.gif", "cartoon", demo.getvalue())]
    for name, kind, data in sources:
        frames = bytes_corpus.gif_frames(data)
        width = 160 if name == "demo animated.gif" else frames[0].width // 2
        height = max(1, int(frames[0].height * width / frames[0].width + 0.5))
        resized = [f.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0) for f in frames]
        as_gif, gif_ms = rendition(data, f"image/resize,w_{width}/format,gif")
        path = work / "resized.gif"
        path.write_bytes(as_gif)
        row = {"kind": kind, "width": width, "frames": len(frames),
               "gif": gif_point(resized, as_gif, gif_ms, len(as_gif)),
               "edge": gif_point(resized, *rendition(data, f"image/resize,w_{width}/format,webp"), len(as_gif)),
               "gif2webp": gif_point(resized, *anchor("gif", (), path, work), len(as_gif)),
               "gif2webp -min_size": gif_point(resized, *anchor("gif", ("-min_size",), path, work), len(as_gif))}
        row["gif2webp -lossy"] = [dict(gif_point(resized, *anchor("gif", q, path, work), len(as_gif)), setting=q)
                                  for q in GIF2WEBP_LOSSY]
        out[name] = row
        print(name, width, round(row["edge"]["share"], 3), file=sys.stderr, flush=True)
    return out


def run(quick: bool) -> dict:
    registry.load_inherited()
    photos = bytes_corpus.photos()
    if quick:
        photos = {k: photos[k] for k in ("astronaut", "rocket")}
    with tempfile.TemporaryDirectory(prefix="bytes-") as tmp:
        work = Path(tmp)
        return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "renditions": renditions(photos, work), "graphics": graphics(), "j2h": j2h(photos, work),
                "gifs": gifs(work), "resized_gifs": resized_gifs(work)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true", help="measure edge/codecs.py's CALIBRATION and print it")
    parser.add_argument("--effort", choices=("fast", "small"), default="fast",
                        help="with --calibrate: the [compression] effort to calibrate (CALIBRATION_SMALL for small)")
    parser.add_argument("--quick", action="store_true", help="two photographs only (a check of the harness)")
    parser.add_argument("--tables-from", type=Path, metavar="JSON",
                        help="only rewrite the tables and charts from a run's bytes.json")
    parser.add_argument("--out", type=Path, help="write the results here instead of benchmarks/results and docs/")
    args = parser.parse_args()
    if args.calibrate:
        result = calibrate(effort=args.effort)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "calibration.json").write_text(json.dumps(result))
        print("CALIBRATION_SMALL = {" if args.effort == "small" else "CALIBRATION = {")
        for name, points in result["table"].items():
            print(f'    "{name}": ({", ".join(f"({q}, {e})" for q, e in [(1, 1)] + points)}),')
        print("}")
        return
    result = json.loads(args.tables_from.read_text()) if args.tables_from else run(args.quick)
    bytes_report.write(result, args.out)


if __name__ == "__main__":
    main()
