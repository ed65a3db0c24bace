"""HEIC and AVIF encoder speed settings: CPU, bytes and SSIM, and what the servers answer.

``python benchmarks/encoders.py [--corpus DIR] [--budget S] [--servers edge,thumbor]``

For a few photo-like cases (W6's 1920x1080 -> 800w, and W7 sources at 320, 1280
and 1920 wide), each drafted and LANCZOS-resized once as edge does, it times
in one process the HEIC encode (x265 through libheif, pillow-heif) at libheif's
default preset ("slow") and at faster x265 presets, and the AVIF encode (Pillow,
libavif) at several speeds, all at q80. CPU ms are medians and count every
encoder thread. Bytes and SSIM (luma, 7x7 windows, against a reference resized
from the full decode, never quantised) say what the speed costs.

With ``--servers`` it also starts those servers and compares their W6 answers
(800w HEIC and AVIF, q80) by size and SSIM against the same reference.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pillow_heif

from jpeg import _luma, cpu_ms, resized, served_if_asked, ssim
from workloads import Op

pillow_heif.register_heif_opener()

BENCH_DIR = Path(__file__).resolve().parent
QUALITY = 80
CASES = [("w2.jpg", 800), ("w7/src_05.jpg", 320), ("w7/src_03.jpg", 1280), ("w7/src_07.jpg", 1920)]
HEIC_PRESETS = ["default", "medium", "superfast", "ultrafast"]  # "default": libheif's, x265 "slow"
AVIF_SPEEDS = [6, 7, 8, 9]  # 6: Pillow's default


def _options(fmt: str, setting) -> dict:
    if fmt == "HEIF":
        return {"quality": QUALITY, **({} if setting == "default" else {"enc_params": {"preset": setting}})}
    return {"quality": QUALITY, "speed": setting}


def settings(corpus: Path, budget_s: float) -> dict:
    """{format: {setting: {case: {"cpu_ms", "bytes", "ssim"}}}} for every case."""
    out: dict = {"HEIF": {}, "AVIF": {}}
    for key, width in CASES:
        data = (corpus / key).read_bytes()
        small = resized(data, width)
        ref = io.BytesIO()
        resized(data, width, draft=False).save(ref, "PNG")
        reference = _luma(ref.getvalue())
        for fmt, choices in (("HEIF", HEIC_PRESETS), ("AVIF", AVIF_SPEEDS)):
            for setting in choices:
                def encode(fmt=fmt, setting=setting) -> bytes:
                    buf = io.BytesIO()
                    small.save(buf, fmt, **_options(fmt, setting))
                    return buf.getvalue()

                body = encode()
                out[fmt].setdefault(str(setting), {})[f"{key}@{width}"] = {
                    "cpu_ms": round(cpu_ms(encode, budget_s, min_runs=2), 1),
                    "bytes": len(body),
                    "ssim": round(ssim(reference, _luma(body)), 4),
                }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=BENCH_DIR / ".corpus")
    ap.add_argument("--budget", type=float, default=0.5, help="seconds of timing per measurement (default 0.5)")
    ap.add_argument("--servers", default="", help="also compare the W6 answers of these servers, e.g. edge,thumbor")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    result = {"settings": settings(corpus, args.budget)} | served_if_asked(corpus, args.servers, {
        "W6-heic": [Op("w2.jpg", 800, fmt="heic", quality=QUALITY)],
        "W6-avif": [Op("w2.jpg", 800, fmt="avif", quality=QUALITY)],
    })
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
