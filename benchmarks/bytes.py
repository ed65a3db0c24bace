"""Bytes at a given visual quality: edge's renditions and transcodes against the anchor encoders.

``python benchmarks/bytes.py --calibrate`` measures the quality mapping of edge/codecs.py
(CALIBRATION): for every photograph of benchmarks/bytes_corpus.py at its shipped size and at half
size, the SSIMULACRA2 score of JPEG at each quality and of HEIC, AVIF and WebP at each of their
settings (encoded as edge encodes them), and for each JPEG quality the setting of each format that
scores the same, the median over the photographs. Prints the table as Python.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge import codecs, registry  # noqa: E402

import bytes_corpus  # noqa: E402
import visual  # noqa: E402

JPEG_STEPS = (20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 100)
ENCODER_STEPS = tuple(range(5, 100, 5)) + (100,)
_PILLOW = {"heic": "HEIF", "avif": "AVIF", "webp": "WEBP", "jpg": "JPEG"}


def encode(im: Image.Image, name: str, quality: int) -> bytes:
    """`im` written as edge writes `name` (jpg, heic, avif, webp) at that encoder's own `quality`."""
    out = io.BytesIO()
    options = {"quality": quality, "optimize": True} if name == "jpg" else codecs.encoder_options(name, quality)
    im.save(out, _PILLOW[name], **options)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") else "RGB")


def calibration_images() -> dict[str, Image.Image]:
    """Every photograph at its shipped size and at half size."""
    images = {}
    for name, photo in bytes_corpus.photos().items():
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


def calibrate(formats: tuple[str, ...] = codecs.CALIBRATED) -> dict:
    """{"scores": {image: {format: [score per step]}}, "table": {format: [[jpeg q, encoder q], ...]}}."""
    scores: dict[str, dict[str, list[float]]] = {}
    for key, im in calibration_images().items():
        row = {"jpg": [visual.ssimulacra2(im, decoded(encode(im, "jpg", q))) for q in JPEG_STEPS]}
        for name in formats:
            row[name] = [visual.ssimulacra2(im, decoded(encode(im, name, q))) for q in ENCODER_STEPS]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true", help="measure edge/codecs.py's CALIBRATION and print it")
    parser.add_argument("--out", type=Path, help="also write the measurements there as JSON")
    args = parser.parse_args()
    if args.calibrate:
        result = calibrate()
        if args.out:
            args.out.write_text(json.dumps(result))
        print("CALIBRATION = {")
        for name, points in result["table"].items():
            print(f'    "{name}": ({", ".join(f"({q}, {e})" for q, e in [(1, 1)] + points)}),')
        print("}")


if __name__ == "__main__":
    main()
