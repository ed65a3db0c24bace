"""Deterministic, photo-like benchmark corpus.

Contract: ``ensure(root)`` leaves these files under ``root`` and returns a
manifest dict (also written to ``root/manifest.json``):

    w1.jpg            4000x3000 JPEG q90             (W1, W5)
    w2.jpg            1920x1080 JPEG q90             (W2, W6)
    w3.png            1024x1024 RGBA PNG, real alpha (W3)
    w4.gif            480x270, 20 frames, durations FRAME_DURATIONS_MS (W4)
    w7/src_00..19.jpg 20 different 4000x3000 JPEG q90 (W7)
    copies/w1_0.jpg .. copies/w4_7.gif  COPIES hard links of w1-w4

The copies are there because a server may coalesce concurrent misses of
the same URL into one render (edge does): a cache-miss workload rotates
over COPIES keys so that no two requests in flight ask for the same one
and every request is a full render.

Every image is drawn from a seeded numpy generator, so the same code and the
same Pillow build give the same bytes.  Flat colour would make JPEG/PNG
sizes (and so decode/encode time) unrealistically small, so each image is a
smooth low-frequency colour field + soft shapes + sensor-like noise.
The corpus is regenerated only when the manifest's spec differs.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Bump when the drawing code changes so cached corpora are regenerated.
SPEC_VERSION = 3
FRAME_DURATIONS_MS = [40 + 10 * (i % 5) for i in range(20)]  # GIF needs 10 ms units
W7_COUNT = 20
COPIES = 8  # > the 4 connections of the miss workloads
SINGLE_SOURCES = ("w1.jpg", "w2.jpg", "w3.png", "w4.gif")


def copy_key(key: str, i: int) -> str:
    """Key of the i-th copy of one of SINGLE_SOURCES."""
    stem, ext = key.rsplit(".", 1)
    return f"copies/{stem}_{i}.{ext}"


def _colour_field(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth RGB gradients: a tiny random grid upscaled bicubically."""
    small = rng.integers(20, 236, size=(6, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), dtype=np.float32)


def _shapes(rng: np.random.Generator, w: int, h: int, count: int) -> tuple[Image.Image, Image.Image]:
    """Soft-edged ellipses and polygons (colour layer, coverage mask).

    Drawn at quarter size and upscaled: the edges come out soft, like
    out-of-focus objects, and it is ~10x faster than blurring at full size.
    """
    sw, sh = max(1, w // 4), max(1, h // 4)
    layer = Image.new("RGB", (sw, sh), (0, 0, 0))
    mask = Image.new("L", (sw, sh), 0)
    draw, mdraw = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for _ in range(count):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        r = rng.uniform(0.03, 0.2) * min(sw, sh)
        opacity = int(rng.integers(120, 230))
        if rng.random() < 0.5:
            box = [cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r]
            draw.ellipse(box, fill=colour)
            mdraw.ellipse(box, fill=opacity)
        else:
            pts = [(cx + r * np.cos(a), cy + r * np.sin(a))
                   for a in np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))]
            draw.polygon(pts, fill=colour)
            mdraw.polygon(pts, fill=opacity)
    return layer.resize((w, h), Image.BICUBIC), mask.resize((w, h), Image.BICUBIC)


def photo(seed: int, w: int, h: int, noise: float = 7.0) -> Image.Image:
    """An RGB photo-like image, fully determined by ``seed``."""
    rng = np.random.default_rng(seed)
    base = _colour_field(rng, w, h)
    layer, mask = _shapes(rng, w, h, count=40)
    img = Image.composite(layer, Image.fromarray(base.astype(np.uint8)), mask)
    out = np.asarray(img, dtype=np.float32)
    # Fine texture: noise at full resolution plus a half-resolution grain,
    # roughly what a phone sensor leaves after its own denoising.
    out += noise * rng.standard_normal(size=out.shape, dtype=np.float32)
    grain = noise * rng.standard_normal(size=(h // 2 + 1, w // 2 + 1, 1), dtype=np.float32)
    out += np.repeat(np.repeat(grain, 2, axis=0), 2, axis=1)[:h, :w]
    np.clip(out, 0, 255, out=out)
    return Image.fromarray(out.astype(np.uint8))


def rgba(seed: int, size: int) -> Image.Image:
    """An RGBA image whose alpha really varies: radial fade plus cut-outs."""
    rgb = photo(seed, size, size, noise=4.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = np.hypot(xx - size / 2, yy - size / 2) / (size / 2)
    alpha = np.clip(255 * (1.15 - d), 0, 255)
    holes = Image.new("L", (size, size), 255)
    hd = ImageDraw.Draw(holes)
    rng = np.random.default_rng(seed + 1)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(20, 90)]
        hd.ellipse([cx - r, cy - r, cx + r, cy + r], fill=int(rng.integers(0, 120)))
    alpha = np.minimum(alpha, np.asarray(holes, dtype=np.float32)).astype(np.uint8)
    out = rgb.convert("RGBA")
    out.putalpha(Image.fromarray(alpha))
    return out


def animated_gif(seed: int, path: Path) -> None:
    """20 distinct frames (a moving disc over a drifting scene), 480x270."""
    w, h = 480, 270
    scene = photo(seed, w * 2, h, noise=3.0)
    frames = []
    for i in range(len(FRAME_DURATIONS_MS)):
        frame = scene.crop((i * 12, 0, i * 12 + w, h))
        d = ImageDraw.Draw(frame)
        x = 30 + i * 20
        d.ellipse([x, 100, x + 60, 160], fill=(230, 40, 40))
        d.rectangle([10, 10 + i * 5, 60, 40 + i * 5], fill=(20, 20, 200))
        frames.append(frame.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=FRAME_DURATIONS_MS,
                   loop=0, optimize=False, disposal=1)


def _save_photo(seed: int, w: int, h: int, path: Path) -> None:
    photo(seed, w, h).save(path, quality=90)


def _save_rgba(seed: int, path: Path) -> None:
    rgba(seed, 1024).save(path)


def _spec() -> dict:
    return {"version": SPEC_VERSION, "pillow": Image.__version__, "numpy": np.__version__}


def ensure(root: Path) -> dict:
    """Create the corpus under ``root`` unless an identical one is already there."""
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("spec") == _spec() and all((root / f).exists() for f in manifest["files"]):
            return manifest

    (root / "w7").mkdir(exist_ok=True)
    jobs = [(_save_photo, 1, 4000, 3000, root / "w1.jpg"), (_save_photo, 2, 1920, 1080, root / "w2.jpg")]
    jobs += [(_save_photo, 100 + i, 4000, 3000, root / "w7" / f"src_{i:02d}.jpg") for i in range(W7_COUNT)]
    jobs += [(_save_rgba, 3, root / "w3.png"), (animated_gif, 4, root / "w4.gif")]
    # Two processes: the big numpy fills are single-threaded and this is a 2-core box.
    with ProcessPoolExecutor(max_workers=2) as pool:
        for f in [pool.submit(*job) for job in jobs]:
            f.result()
    (root / "copies").mkdir(exist_ok=True)
    for key in SINGLE_SOURCES:
        for i in range(COPIES):
            dest = root / copy_key(key, i)
            dest.unlink(missing_ok=True)
            try:
                os.link(root / key, dest)  # same bytes, no extra disk
            except OSError:
                shutil.copyfile(root / key, dest)

    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in {".jpg", ".png", ".gif"})
    manifest = {
        "spec": _spec(),
        "frame_durations_ms": FRAME_DURATIONS_MS,
        "files": files,
        "bytes": {f: (root / f).stat().st_size for f in files},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / ".corpus"
    print(json.dumps(ensure(target)["bytes"], indent=1))
