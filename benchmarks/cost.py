"""Measure the per-pixel costs that edge/cost.py adds up, with this Pillow on this machine.

    python benchmarks/cost.py

Prints nanoseconds of CPU per pixel for each stage the estimate counts, beside the constant
edge.cost uses for it. The constants are rounded up from such a run (docs/reliability.md).
"""

from __future__ import annotations

import io
import sys
import time
import zlib
from pathlib import Path

from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge import codecs, cost  # noqa: E402
from edge.config import Limits  # noqa: E402
from edge.frames import Frames, RenderContext  # noqa: E402
from edge.codecs import pillow_heif  # noqa: E402,F401  (registers the HEIF encoder)
from edge.demo import bouncing_ball, landscape  # noqa: E402


def cpu_ns_per_pixel(work, pixels: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / pixels * 1e9


def main() -> None:
    photo = landscape(2000, 1500).convert("RGB")
    pixels = photo.width * photo.height
    jpeg, png = io.BytesIO(), io.BytesIO()
    photo.save(jpeg, "JPEG", quality=90)
    photo.save(png, "PNG")
    turned = photo.rotate(-33, expand=True)
    rows = [
        ("decode JPEG (entropy + IDCT)", lambda: Image.open(io.BytesIO(jpeg.getvalue())).load(), pixels,
         cost.JPEG_ENTROPY_NS + cost.JPEG_IDCT_NS),
        ("decode PNG", lambda: Image.open(io.BytesIO(png.getvalue())).load(), pixels, cost.DECODE_NS["PNG"]),
        ("resize LANCZOS to 1/2", lambda: photo.resize((1000, 750), Image.Resampling.LANCZOS, reducing_gap=3.0),
         pixels, cost.RESAMPLE_NS),
        ("rotate 33 (per result pixel)", lambda: photo.rotate(-33, Image.Resampling.BICUBIC, expand=True),
         turned.width * turned.height, cost.ROTATE_NS),
        ("Gaussian blur", lambda: photo.filter(ImageFilter.GaussianBlur(29)), pixels, cost.FILTER_NS),
        ("transpose", lambda: photo.transpose(Image.Transpose.ROTATE_90), pixels, cost.PASS_NS),
    ]
    for label, pillow, options, constant in encoders():
        rows.append((label, lambda p=pillow, o=options: codecs.write([photo], p, dict(o)), pixels, constant))
    rows += webp_of_gif_or_png_rows(photo)
    print(f"{'stage':32} {'measured ns/px':>15} {'edge.cost':>10}")
    for label, work, count, constant in rows:
        print(f"{label:32} {cpu_ns_per_pixel(work, count):15.1f} {constant:10}")


def encoders() -> list[tuple[str, str, dict, float]]:
    """(label, Pillow format, options, edge.cost's ns a pixel) of each still encoder as edge.codecs
    sets it: at the default (JPEG-scale 85) and, for the calibrated ones, at JPEG-scale 100, their
    dearest setting, with each [compression] effort."""
    rows = [("encode jpg at 85", "JPEG", {"quality": 85, "optimize": True}, cost.encode_ns("jpg", 85)),
            ("encode png", "PNG", {"compress_level": 6, "compress_type": zlib.Z_RLE}, cost.encode_ns("png", 85))]
    pillow = {"heic": "HEIF", "avif": "AVIF", "webp": "WEBP"}
    for name in codecs.CALIBRATED:
        for effort in ("fast", "small"):
            for jpeg_quality in (85, 100):
                setting = codecs.calibrated_quality(name, jpeg_quality, effort)
                rows.append((f"encode {name} {effort} at {setting}", pillow[name],
                             codecs.encoder_options(name, setting, effort), cost.encode_ns(name, jpeg_quality, effort)))
    return rows


def webp_of_gif_or_png_rows(photo: Image.Image) -> list[tuple]:
    """edge.codecs.encode's WebP of GIF and PNG sources, per pixel of all frames: an animation with
    minimize_size, a resized drawing (palette, its check, lossless) and frames of a "drawn" source
    that fail the check (palette, check, then lossy): the worst case edge.cost bounds."""
    frames = [photo.resize((480, 270), Image.Resampling.BILINEAR, box=(40 * i, 30 * i, 1200 + 40 * i, 705 + 30 * i))
              for i in range(12)]
    clip = Frames([f.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB") for f in frames], [80] * 12, 0)
    drawing = Frames([im.resize((240, 135), Image.Resampling.LANCZOS) for im in bouncing_ball(480, 270, 12)], [80] * 12, 0)
    resized_photo = Frames([f.resize((240, 135), Image.Resampling.LANCZOS) for f in frames], [80] * 12, 0)

    def encoding(made: Frames, gif_bytes: int):
        ctx = RenderContext(Limits(), "GIF", source_bytes=gif_bytes, source_size=(480, 270), source_frames=12,
                            output_format="webp")
        return lambda: codecs.encode(made, ctx)

    drawn_bytes, dithered_bytes = 480 * 270 * 12 // 100, 480 * 270 * 12 // 2
    return [(f"encode webp: {label}", encoding(made, size), made.size[0] * made.size[1] * 12, cost.WEBP_OF_GIF_OR_PNG_NS)
            for label, made, size in (("dithered clip", clip, dithered_bytes), ("resized drawing", drawing, drawn_bytes),
                                      ("failed drawing check", resized_photo, drawn_bytes))]


if __name__ == "__main__":
    main()
