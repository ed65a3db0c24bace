"""What a rendition will cost, decided from the source's header and the pipeline before any pixel is decoded.

A URL is short and a render can be long: `image/rotate,1/rotate,1/...` or a
blur of every frame of an animation enlarged to 4096 pixels held a worker for
the whole job timeout. So every render first adds up an estimate of its work
(in nanoseconds of one core, from per-pixel costs measured with this Pillow on
an x86-64 core: `python benchmarks/cost.py` measures them again) and refuses,
with a 400 that names the step, what is over `limits.work_budget_ms`.

The estimate is deliberately an upper bound of the usual case: each step's
size is the most it can be (a crop is assumed to keep everything), and a
batch's shared decodes are counted once per rendition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.codecs import DEFAULT_QUALITY
from edge.errors import InvalidArgument

if TYPE_CHECKING:
    from edge.config import Limits
    from edge.pipeline import Pipeline

# Pixel actions in one process string (all its `|` parts), counted as written; whole-image
# settings (format, quality, interlace, auto-orient) are not counted, as the last one wins. The
# longest chain the manuals show has six (resize, crop, rotate, three watermarks); every pixel
# action once is 15. More is no rendition anyone needs, only a way to multiply work.
MAX_ACTIONS = 20

# Nanoseconds of one core per pixel, measured (docs/reliability.md).
PASS_NS = 4          # a cheap pass over every pixel (a point operation, a paste, a transpose)
RESAMPLE_NS = 16     # LANCZOS, per pixel of the larger of source and result
ROTATE_NS = 40       # bicubic rotation by an angle that is not a right angle, per result pixel
FILTER_NS = 50       # Gaussian blur and unsharp mask, any radius (Pillow's are box blurs)
COMPOSITE_NS = 15    # alpha-compositing a watermark block
# JPEG: entropy decoding is paid for every source pixel, the inverse DCT only for the decoded
# (draft-scaled) ones.
JPEG_ENTROPY_NS, JPEG_IDCT_NS = 3, 4
DECODE_NS = {"PNG": 20, "GIF": 10, "WEBP": 20, "BMP": 2, "TIFF": 5, "HEIF": 40, "AVIF": 40}
# Encoders at the default quality (JPEG-scale 85, edge.codecs's calibrated setting for the others).
ENCODE_NS = {"jpg": 6, "png": 110, "webp": 130, "bmp": 3, "gif": 20, "tiff": 3, "heic": 1000, "avif": 160}
# The calibrated encoders spend more at a higher quality: at JPEG-scale 100 (x265 63, AVIF 100,
# WebP 100) measured 1.4x (HEIC) to 2.2x (AVIF) their cost at 85. Between, a straight line; below
# 85, as at 85.
ENCODE_NS_AT_100 = {"webp": 210, "heic": 1800, "avif": 350}
# [compression] effort "small" multiplies those (edge.codecs._SMALL: x265 rdoq-level 2, libaom speed 6,
# libwebp's sharp RGB->YUV): benchmarks/cost.py measured 1.7-1.8x (HEIC), 2.8-3.0x (AVIF) and
# 1.5-2.3x (WebP, which the constant above overstates) at 85 and 100; each result stays under the estimate.
SMALL_EFFORT_FACTOR = {"webp": 1.8, "heic": 2.0, "avif": 3.0}
# WebP of an animation, a GIF or a PNG, per pixel of all frames: libwebp's minimize_size (each frame
# tried as a key frame and as a difference), and for a drawing the palette, its check and lossless
# WebP, or lossy after them when the check fails (edge.codecs): 140-290 measured, the last the worst.
WEBP_OF_GIF_OR_PNG_NS = 320


@dataclass(frozen=True)
class Source:
    """What the header says: the size (upright), the size the decoder will produce (upright;
    smaller after a JPEG draft), and how many frames will be decoded."""

    format: str
    size: tuple[int, int]
    decoded: tuple[int, int]
    frames: int


def actions_check(count: int) -> None:
    """InvalidArgument when a process string has more than MAX_ACTIONS actions."""
    if count > MAX_ACTIONS:
        raise InvalidArgument(f"x-oss-process: {count} processing actions; a process may have at most {MAX_ACTIONS} "
                              "(format, quality, interlace and auto-orient not counted)")


def encode_ns(output: str, quality: int, effort: str = "fast") -> float:
    """Nanoseconds per pixel to encode a still in `output` ("jpg") at `quality` (the JPEG scale) with
    [compression] `effort`."""
    at_default, at_100 = ENCODE_NS.get(output, 20), ENCODE_NS_AT_100.get(output)
    factor = SMALL_EFFORT_FACTOR.get(output, 1.0) if effort == "small" else 1.0
    if at_100 is None or quality <= DEFAULT_QUALITY:
        return at_default * factor
    return factor * (at_default + (at_100 - at_default) * (min(quality, 100) - DEFAULT_QUALITY)
                     / (100 - DEFAULT_QUALITY))


def estimate(pipeline: "Pipeline", source: Source, output: str, limits: "Limits", max_side: int = 2**31 - 1,
             quality: int = DEFAULT_QUALITY, effort: str = "fast") -> list[tuple[str, float]]:
    """The work of each stage in nanoseconds, in order: ("decode", ns), (step canonical, ns)...,
    ("format,<output>", ns). `output` is the output format's name ("jpg"), `quality` the
    rendition's on the JPEG scale (edge.codecs.effective_quality), `effort` [compression] effort.
    A step that will refuse its input (a resize over the target limits) ends the list: rendering
    stops there; so does a result with a side over `max_side`, which the output format cannot hold
    (edge.codecs.encode refuses it)."""
    width, height = source.size
    decoded = source.decoded[0] * source.decoded[1]
    frames = source.frames
    entropy = width * height * JPEG_ENTROPY_NS if source.format in ("JPEG", "MPO") else 0
    per_pixel = JPEG_IDCT_NS if entropy else DECODE_NS.get(source.format, 20)
    stages = [("decode", frames * (entropy + decoded * per_pixel))]
    # A step plans from the full size (as it does when rendering), but the first one works on
    # what the decoder made, which a JPEG draft may have shrunk for it.
    shrink = decoded / (width * height)
    for step in pipeline.pixel_steps():
        planned = step.work(width, height, limits)
        if planned is None:
            return stages
        (width, height), ns = planned
        stages.append((step.canonical(), frames * ns * shrink))
        shrink = 1.0
    if max(width, height) <= max_side:
        drawing_or_animation = output == "webp" and (frames > 1 or source.format in ("GIF", "PNG"))
        per_pixel = WEBP_OF_GIF_OR_PNG_NS if drawing_or_animation else encode_ns(output, quality, effort)
        stages.append((f"format,{output}", frames * width * height * per_pixel))
    return stages


def check(pipeline: "Pipeline", source: Source, output: str, limits: "Limits", max_side: int = 2**31 - 1,
          quality: int = DEFAULT_QUALITY, effort: str = "fast") -> float:
    """The estimated work in ms (arguments as `estimate`'s); InvalidArgument naming the step that
    takes it over `limits.work_budget_ms`."""
    total, budget_ms = 0.0, limits.work_budget_ms
    for stage, ns in estimate(pipeline, source, output, limits, max_side, quality, effort):
        total += ns / 1e6
        if total > budget_ms:
            frames = f"{source.frames} frames of " if source.frames > 1 else ""
            raise InvalidArgument(
                f"x-oss-process: too costly: with {stage} the rendition of {frames}a "
                f"{source.size[0]}x{source.size[1]} image would take about {total / 1000:.1f} s of CPU, "
                f"over this server's budget of {budget_ms / 1000:g} s per rendition; ask for fewer or "
                f"smaller steps")
    return total


def over_target(width: int, height: int, limits: "Limits") -> bool:
    """Whether a `width` x `height` result breaks the target limits (RenderContext.check_target)."""
    return width > limits.target_side or height > limits.target_side or width * height > limits.target_pixels


def same_size(width: int, height: int, ns_per_pixel: float) -> tuple[tuple[int, int], float]:
    """(size, work in ns) of a step that keeps the size and costs `ns_per_pixel` per pixel."""
    return (width, height), width * height * ns_per_pixel
