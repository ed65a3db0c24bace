"""Make one rendition: bytes of a source in, encoded bytes of the result out. Runs in a worker.

The steps, in order (as imgproxy does): read the header and check the limits
before any pixel is decoded; apply the whole-image settings (format,
quality...); let the first shrinking step pick a JPEG DCT scale (`draft`) so
a 4000px photo is decoded at 1/2, 1/4 or 1/8 size; decode (every frame only
for a GIF or WebP animation going to a format that animates), normalise the
mode and the colours (embedded ICC profiles to sRGB), auto-orient; run the
pixel steps; encode.

A step that answers with JSON (info, average-hue) sets `ctx.document`; the
rendition is then that document as `application/json`, and it must be the
last step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from PIL import Image

from edge import codecs, cost, truncation
from edge.codecs import ANIMATED, OutputFormat, effective_quality, encode, estimate_jpeg_quality, output_format, to_srgb
from edge.config import Limits
from edge.errors import BadRequest, ImageTooLarge, InvalidArgument, OssError
from edge.frames import Frames, RenderContext
from edge.images import open_image, reading
from edge.batch_messages import BatchOrder, ItemFailed, ItemMade
from edge.pipeline import Operation, Pipeline
from edge.streams import read_limited

if TYPE_CHECKING:
    from edge.jobs import Emit, RenderBatch, RenderJob

_SWAPS_SIDES = {5, 6, 7, 8}
# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def render_batch(batch: RenderBatch, data: bytes | None, emit: Emit) -> dict:
    """Run every job of `batch` on their one source (`data`, or the file at each job's `path`); a
    decode at a given scale and orientation is made once and shared (with the next batches of the
    same source too, see _Kept), so each result is byte for byte what a batch of that job alone
    makes.

    A rendition's meta is {"content_type", "format", "width", "height", "frames"}; for a JSON
    answer (info, average-hue) the content type is application/json and format "json". A job
    fails with an OssError: ImageTooLarge for limits, BadRequest for bytes that are not a
    readable image, InvalidArgument from operations and for a rendition over the work budget
    (edge.cost).

    Every job's cost is estimated from the header first; then they run cheapest first, and each
    answer is sent as soon as it is made, so no job waits behind a dearer one. `emit(message,
    body)` sends (edge.jobs): an `ItemFailed` for a job refused before any decode; a `BatchOrder`,
    the order the others will run in (not for a batch of one); then an `ItemMade` with the body,
    or an `ItemFailed`, for each as it is done. Returns {"decodes": how many decodes the batch
    made}. Raises when the source cannot be read at all, or the error of a batch of one (so that
    a failed job counts as one).
    """
    source = batch.jobs[0].original
    raw, decodes = _Kept.take(source, lambda: source_bytes(batch.jobs[0], data))
    kept = len(decodes)
    alone = len(batch.jobs) == 1
    ready = []
    for index, job in enumerate(batch.jobs):
        try:
            ready.append((index, _guarded(_prepare, job, raw)))
        except OssError as exc:
            if alone:
                raise
            emit(ItemFailed(index, exc), b"")
    ready.sort(key=lambda pair: pair[1].work_ms)
    if not alone:  # a message now wakes the server while this worker decodes: only when it tells something
        emit(BatchOrder(tuple(index for index, _ in ready)), b"")
    for index, prepared in ready:
        try:
            meta, body = _guarded(_finish, prepared, decodes)
        except OssError as exc:
            if alone:
                raise
            emit(ItemFailed(index, exc), b"")
            continue
        emit(ItemMade(index, meta, len(body)), body)
    _Kept.keep(source, raw, decodes)
    return {"decodes": len(decodes) - kept}


KEEP_SECONDS = 2.0  # how long a worker keeps its last source's decodes for the next job


class _Kept:
    """The source bytes and decodes of a worker's last source, for a moment.

    The widths of a page's srcset that reach a worker one after another (each found it idle, so
    none queued to be batched) then share decodes as a batch does. Decoded frames are never
    changed in place (operations are pure), so a result is the same bytes as from a fresh decode.
    """

    BYTES = 64 * 2**20  # a 4000x3000 photo's decodes at 1/2, 1/4 and 1/8 take ~16 MB

    source: tuple = ()
    raw = b""
    decodes: dict = {}
    until = 0.0

    @classmethod
    def take(cls, source: tuple, read) -> tuple[bytes, dict]:
        """(bytes, decodes) of `source`: those kept if still fresh, else read() and none."""
        fresh = source and source == cls.source and time.monotonic() < cls.until
        raw, decodes = cls.raw, cls.decodes
        cls.forget()  # whatever happens next, kept no longer
        return (raw, decodes) if fresh else (read(), {})

    @classmethod
    def forget(cls) -> None:
        cls.source, cls.raw, cls.decodes = (), b"", {}

    @classmethod
    def keep(cls, source: tuple, raw: bytes, decodes: dict) -> None:
        size = len(raw) + sum(frame.width * frame.height * 4 for f in decodes.values() for frame in f.images)
        if source and size <= cls.BYTES:
            cls.source, cls.raw, cls.decodes, cls.until = source, raw, decodes, time.monotonic() + KEEP_SECONDS


def forget_kept() -> None:
    """Drop the worker's kept source and decodes (the worker is idle: nothing will reuse them)."""
    _Kept.forget()


def _guarded(step, *args):
    """`step(*args)`, with what Pillow raises on corrupt or truncated bytes answered as BadRequest."""
    with reading(_corrupt):
        return step(*args)


_corrupt = partial(BadRequest, "the source image is corrupt or truncated")
_not_an_image = partial(BadRequest, "the source object is not an image in a supported format "
                                    "(jpg, png, gif, webp, bmp, tiff, heic, avif)")


def source_bytes(job: RenderJob, data: bytes | None) -> bytes:
    """The source of `job`: the bytes sent along, or the file at `job.path` (ImageTooLarge past the limit)."""
    return data if data is not None else read_limited(job.path, job.limits.source_bytes)


@dataclass
class _Prepared:
    """A job whose header is read, settings applied and cost checked; nothing decoded yet.
    `answer` is set when the header alone answers it (info)."""

    job: RenderJob
    im: Image.Image
    ctx: RenderContext
    orientation: int = 1
    keep_animation: bool = False
    work_ms: float = 0.0
    answer: tuple[dict, bytes] | None = None


def _prepare(job: RenderJob, raw: bytes) -> _Prepared:
    """Read the header, check the limits and the cost (edge.cost), apply the whole-image settings
    and pick the JPEG draft scale: everything before the decode."""
    if not raw:
        raise BadRequest("the source object is empty, not an image")
    im = open_image(raw, _not_an_image, _corrupt)
    limits = job.limits
    _check_source_size(im, limits)
    truncation.check(im, raw)
    ctx = RenderContext(
        limits=limits,
        source_format=im.format or "",
        source_quality=estimate_jpeg_quality(getattr(im, "quantization", None)) if im.format in ("JPEG", "MPO") else None,
        source_bytes=len(raw),
        source_size=im.size,
        source_frames=getattr(im, "n_frames", 1),
        source_exif=_exif(im),
        inputs=dict(job.inputs),
        effort=job.effort,
    )
    prepared = _Prepared(job, im, ctx)
    pixel_steps = job.pipeline.pixel_steps()
    for step in job.pipeline.steps:
        if step.stage != "pixels":
            step.apply(Frames([]), ctx)
            if ctx.document is not None:  # info: answered from the header, no pixel decoded
                prepared.answer = _answer(step, pixel_steps, ctx.document, im.size)
                return prepared

    prepared.orientation = _orientation(ctx.source_exif) if ctx.auto_orient else 1
    if pixel_steps and im.format == "JPEG":
        _draft(im, pixel_steps[0], prepared.orientation, ctx)
    fmt = output_format(ctx)
    prepared.keep_animation = fmt.animation and im.format in ANIMATED
    prepared.work_ms = _check_cost(job.pipeline, im, ctx, prepared.orientation,
                                   ctx.source_frames if prepared.keep_animation else 1, fmt)
    return prepared


def _finish(prepared: _Prepared, decodes: dict) -> tuple[dict, bytes]:
    """Decode (or take the decode another job of the batch made: `decodes` keeps them by decoded
    size, orientation and animation), run the pixel steps, encode."""
    if prepared.answer is not None:
        return prepared.answer
    im, ctx, orientation = prepared.im, prepared.ctx, prepared.orientation
    shared = (im.size, orientation, prepared.keep_animation)
    if shared in decodes:
        frames = decodes[shared]  # not a copy (13 ms for 2000x1500): operations never change their input
    else:
        frames = _decode(im, keep_animation=prepared.keep_animation, limits=ctx.limits)
        if orientation != 1:
            frames = frames.map(lambda frame: frame.transpose(_UPRIGHT[orientation]))
        decodes[shared] = frames
    pixel_steps = prepared.job.pipeline.pixel_steps()
    for index, step in enumerate(pixel_steps):
        frames = step.apply(frames, ctx)
        if ctx.document is not None:
            return _answer(step, pixel_steps[index + 1:], ctx.document, frames.size)
    body, fmt = encode(frames, ctx)
    width, height = frames.size
    meta = {"content_type": fmt.content_type, "format": fmt.name, "width": width,
            "height": height, "frames": len(frames.images)}
    return meta, body


def decode_still(raw: bytes, limits: Limits) -> Image.Image:
    """The first frame of the image in `raw`, upright (EXIF orientation) and normalised (RGB, RGBA,
    L or LA in sRGB), for images that operations draw with (watermarks). Raises BadRequest for bytes
    that are not a readable image, ImageTooLarge past the source limits."""
    corrupt = partial(BadRequest, "it is corrupt or truncated")
    im = open_image(raw, partial(BadRequest, "it is not an image in a supported format"), corrupt)
    with reading(corrupt):
        _check_source_size(im, limits)
        orientation = _orientation(_exif(im))
        im.load()
        im = normalise(im, im.info.get("icc_profile"))
    return im if orientation == 1 else im.transpose(_UPRIGHT[orientation])


def _answer(step: Operation, following: tuple[Operation, ...], document: dict,
            size: tuple[int, int]) -> tuple[dict, bytes]:
    """The JSON `document` an answering step made; no pixel step may come after it."""
    if following:
        raise InvalidArgument(f"{step.name} answers with JSON, so it cannot be combined with {following[0].name} "
                              "(it must stand alone or come last)")
    meta = {"content_type": "application/json", "format": "json", "width": size[0], "height": size[1],
            "frames": 0}
    return meta, json.dumps(document, ensure_ascii=False).encode()


def _check_source_size(im: Image.Image, limits: Limits) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise BadRequest(f"the source image has an invalid size {width}x{height}")
    if width > limits.source_side or height > limits.source_side:
        raise ImageTooLarge(f"the source image is {width}x{height}; a side may be at most {limits.source_side} pixels")
    if width * height > limits.source_pixels:
        raise ImageTooLarge(f"the source image is {width}x{height}, over the limit of {limits.source_pixels} pixels")


def _check_cost(pipeline: Pipeline, im: Image.Image, ctx: RenderContext, orientation: int, frames: int,
                output: OutputFormat) -> float:
    """The estimated work in ms; refuses, before decoding, a rendition over the budget (edge.cost)."""
    full, decoded = ctx.source_size, im.size
    if orientation in _SWAPS_SIDES:
        full, decoded = full[::-1], decoded[::-1]
    return cost.check(pipeline, cost.Source(im.format or "", full, decoded, frames), output.name, ctx.limits,
                      output.max_side, effective_quality(ctx), ctx.effort)


def _exif(im: Image.Image) -> Image.Exif | None:
    if im.format == "PNG" and "exif" not in im.info:
        # Pillow decodes a whole PNG to look for an eXIf chunk after the pixels (which the PNG
        # spec discourages); that decode would come before the cost check, and once per job of
        # a batch. An eXIf chunk before the pixels is read as usual.
        return None
    try:
        return im.getexif()
    except Exception:  # a broken EXIF block must not fail the image
        return None


def _orientation(exif: Image.Exif | None) -> int:
    value = exif.get(0x0112, 1) if exif is not None else 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft(im: Image.Image, first_step, orientation: int, ctx: RenderContext) -> None:
    """Ask the JPEG decoder for the smallest DCT scale that still covers what the first step needs."""
    width, height = im.size
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    wanted = first_step.draft_size(width, height, ctx)
    if wanted is None:
        return
    upright = (width, height)
    if orientation in _SWAPS_SIDES:
        wanted = (wanted[1], wanted[0])
    before = im.size
    im.draft(im.mode, wanted)
    if im.size != before:
        ctx.undrafted_size = upright


def _decode(im: Image.Image, keep_animation: bool, limits: Limits) -> Frames:
    profile = im.info.get("icc_profile")
    if getattr(im, "n_frames", 1) > 1 and im.format == "WEBP" and im.rawmode == "RGBX":
        # libwebp's animation encoder leaves the alpha flag off when transparency comes only
        # from canvas that no sub-frame covers (gif2webp makes such files); Pillow then reads
        # them as opaque black, though its decoder hands out the real RGBA.
        im.rawmode, im._mode = "RGBA", "RGBA"
    if not keep_animation:
        return Frames([normalise(codecs.load(im), profile)])
    images, durations = [], []
    budget = limits.animation_pixels
    for index in range(getattr(im, "n_frames", 1)):
        im.seek(index)
        budget -= im.size[0] * im.size[1]
        if budget < 0:
            raise ImageTooLarge(f"the animation has more than {limits.animation_pixels} pixels over all its frames")
        # RGB unless the frame can be transparent: RGBA costs a premultiplied resize per frame.
        images.append(normalise(im.convert("RGBA" if im.has_transparency_data else "RGB"), profile))
        durations.append(int(im.info.get("duration", 100) or 100))
    if len({frame.mode for frame in images}) > 1:
        images = [frame.convert("RGBA") for frame in images]
    return Frames(images, durations, im.info.get("loop"))


def normalise(im: Image.Image, profile: bytes | None) -> Image.Image:
    """Bring any decoded mode to one of RGB, RGBA, L, LA (what operations expect), in sRGB,
    without the source's metadata (encoders would copy a stale profile or EXIF orientation)."""
    if profile and im.mode in ("RGB", "RGBA", "CMYK"):
        im = to_srgb(im, profile)
    im = _working_mode(im)
    im.info = {}
    return im


def _working_mode(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode in ("RGB", "L") and "transparency" in im.info:  # a tRNS colour key
        return im.convert("RGBA" if mode == "RGB" else "LA")
    if mode in ("RGB", "RGBA", "L", "LA"):
        return im
    if mode == "P":
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode in ("PA", "RGBa", "La"):
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I") or mode == "F":
        return im.convert("I").point(lambda v: v / 256).convert("L") if mode.startswith("I;16") else im.convert("L")
    return im.convert("RGB")
