"""Image formats: which we read, how we write each one, colour profiles, and JPEG quality estimation."""

from __future__ import annotations

import functools
import io
import zlib
from dataclasses import dataclass

from PIL import Image, ImageCms

from edge import libwebp
from edge.errors import ImageTooLarge
from edge.frames import Frames, RenderContext

try:  # HEIF/HEIC through pillow-heif; AVIF is native in Pillow >= 11.3.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - declared dependency
    pillow_heif = None

try:  # libspng, for the common PNGs (load)
    import pyspng
except ImportError:  # pragma: no cover - declared dependency
    pyspng = None


# Pillow decoders we let near untrusted bytes; no EPS/PDF/PSD and other exotic parsers.
READABLE = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")  # JPEG also opens MPO
# Sources whose frames are an animation. Other multi-image files (TIFF pages, MPO's second
# picture, HEIF image collections, APNG) give their first image.
ANIMATED = ("GIF", "WEBP")


@dataclass(frozen=True)
class OutputFormat:
    name: str            # our name, as in format,<name>
    pillow: str          # Pillow's save format
    content_type: str
    alpha: bool          # can hold transparency
    animation: bool      # can hold frames
    max_side: int = 2**31 - 1  # the longest side the format (or its encoder) holds


FORMATS = {
    f.name: f
    for f in (
        OutputFormat("jpg", "JPEG", "image/jpeg", alpha=False, animation=False, max_side=65500),
        OutputFormat("png", "PNG", "image/png", alpha=True, animation=False),
        OutputFormat("webp", "WEBP", "image/webp", alpha=True, animation=True, max_side=16383),
        OutputFormat("bmp", "BMP", "image/bmp", alpha=True, animation=False),
        OutputFormat("gif", "GIF", "image/gif", alpha=True, animation=True, max_side=65535),
        OutputFormat("tiff", "TIFF", "image/tiff", alpha=True, animation=False),
        OutputFormat("heic", "HEIF", "image/heic", alpha=True, animation=False),
        OutputFormat("avif", "AVIF", "image/avif", alpha=True, animation=False, max_side=65536),
    )
}

FORMAT_ALIASES = {"jpeg": "jpg", "heif": "heic", "tif": "tiff"}

_FROM_PILLOW = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp",
                "GIF": "gif", "TIFF": "tiff", "HEIF": "heic", "AVIF": "avif"}

DEFAULT_QUALITY = 85


def format_of_source(pillow_format: str) -> str:
    """Our output name for a source decoded by Pillow as `pillow_format` (PNG for anything else)."""
    return _FROM_PILLOW.get(pillow_format, "png")


def output_format(ctx: RenderContext) -> OutputFormat:
    """The format this rendition is written in: the one asked, else the source's own."""
    return FORMATS[ctx.output_format or format_of_source(ctx.source_format)]


def effective_quality(ctx: RenderContext) -> int:
    """The encoder quality (1-100) from q/Q and the source's estimated JPEG quality.

    OSS rules: Q is absolute but never above the source's own quality; q is
    relative to the source's quality (absolute when the source is not JPEG);
    Q wins over q. Without either we use 85, never above the source's quality.
    """
    source = ctx.source_quality
    if ctx.quality_absolute is not None:
        return min(ctx.quality_absolute, source) if source else ctx.quality_absolute
    if ctx.quality_relative is not None:
        return max(1, round(source * ctx.quality_relative / 100)) if source else ctx.quality_relative
    return min(DEFAULT_QUALITY, source) if source else DEFAULT_QUALITY


def encode(frames: Frames, ctx: RenderContext) -> tuple[bytes, OutputFormat]:
    """Encode `frames` in the rendition's output format; returns the bytes and the format.
    ImageTooLarge when the result has a side longer than the format holds."""
    fmt = output_format(ctx)
    width, height = frames.size
    if max(width, height) > fmt.max_side:
        raise ImageTooLarge(f"format,{fmt.name}: the result is {width}x{height}, and {fmt.name.upper()} holds at most "
                            f"{fmt.max_side} pixels a side; ask for a smaller size or another format")
    images = frames.images if fmt.animation else frames.images[:1]
    images = [_to_output_mode(im, fmt) for im in images]
    planned = _webp_of_gif_or_drawing(images, frames, ctx) if fmt.name == "webp" else None
    images, options = planned or (images, _save_options(fmt, ctx, _unscaled(frames, ctx)))
    if len(images) > 1:
        options.update(save_all=True, append_images=images[1:], duration=frames.durations)
        if frames.loop is not None:
            options["loop"] = frames.loop
        elif fmt.name == "webp":  # a GIF without a loop count plays once; WebP's default is forever
            options["loop"] = 1
        if fmt.name == "gif" and any(_has_transparency(im) for im in images):
            # Each frame is whole: cleared before the next, or its transparent pixels would show
            # the frames before it through (Pillow's default leaves them in place).
            options["disposal"] = 2
    body = write(images, fmt.pillow, options)
    if fmt.name == "webp" and len(images) > 1 and any(_has_transparency(im) for im in images):
        body = _flag_webp_alpha(body)
    return body, fmt


def write(images: list[Image.Image], pillow_format: str, options: dict) -> bytes:
    """`images` (one, or the frames of an animation) in Pillow's `pillow_format` with its save
    `options`; a still WebP whose options ask for sharp RGB->YUV goes through edge.libwebp."""
    if options.pop("use_sharp_yuv", False) and len(images) == 1:
        return libwebp.encode(images[0], options["quality"], options["method"], use_sharp_yuv=True)
    out = io.BytesIO()
    images[0].save(out, pillow_format, **options)
    return out.getvalue()


def load(im: Image.Image) -> Image.Image:
    """`im` (opened on bytes, not yet loaded) decoded: an 8-bit RGB or RGBA, non-interlaced, still
    PNG by libspng, the same pixels in ~30 % less CPU than Pillow's decoder (W3, docs/compression.md),
    returned as a new image with `im`'s info; anything else, or a PNG libspng refuses, by Pillow,
    which raises on corrupt bytes as usual."""
    if (pyspng is not None and im.format == "PNG" and im.mode in ("RGB", "RGBA") and len(im.tile) == 1
            and im.tile[0].args == im.mode and not im.info.get("interlace") and "transparency" not in im.info
            and getattr(im, "n_frames", 1) == 1 and isinstance(im.fp, io.BytesIO)):
        try:
            pixels = pyspng.load(im.fp.getvalue())
        except Exception:  # noqa: BLE001 - libspng's errors are plain exceptions; Pillow decides
            pixels = None
        if pixels is not None and pixels.shape == (im.height, im.width, len(im.mode)) and pixels.dtype == "uint8":
            decoded = Image.fromarray(pixels, im.mode)
            decoded.info = dict(im.info)
            return decoded
    im.load()
    return im


def _has_transparency(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA") and im.getchannel("A").getextrema()[0] < 255


def _flag_webp_alpha(body: bytes) -> bytes:
    """Set the alpha bit of an animated WebP's VP8X header.

    libwebp's animation encoder crops each frame to what changed, and leaves
    the bit off when transparency comes only from canvas no frame covers;
    readers that trust the bit (Pillow among them) then show that canvas
    opaque black. The bit is a hint, valid to set whenever a frame has alpha.
    """
    if body[12:16] != b"VP8X":
        return body
    return body[:20] + bytes([body[20] | 0x10]) + body[21:]


# JPEG quality -> the setting of each other lossy encoder whose result scores the same SSIMULACRA2
# against the source, median over benchmarks/bytes_corpus.py's photographs, as measured by
# `benchmarks/bytes.py --calibrate [--effort small]` (docs/compression.md), for each [compression]
# effort. Between two points, a straight line.
CALIBRATION = {
    "heic": ((1, 1), (20, 17), (30, 22), (40, 25), (50, 29), (60, 31), (70, 34), (75, 35), (80, 38), (85, 41),
             (90, 47), (95, 54), (100, 63)),
    "avif": ((1, 1), (20, 31), (30, 40), (40, 45), (50, 49), (60, 52), (70, 57), (75, 59), (80, 65), (85, 70),
             (90, 79), (95, 91), (100, 100)),
    "webp": ((1, 1), (20, 13), (30, 30), (40, 42), (50, 53), (60, 60), (70, 73), (75, 76), (80, 80), (85, 84),
             (90, 89), (95, 96), (100, 100)),
}
CALIBRATION_SMALL = {
    # HEIC's measured 46 for 90 (47 without rdoq), which took /j2h of a q90 retina photograph to 6.2
    # points under its JPEG, past J2H_TOLERANCE; the rest is the same table.
    "heic": CALIBRATION["heic"],
    "avif": ((1, 1), (20, 29), (30, 38), (40, 44), (50, 48), (60, 51), (70, 56), (75, 58), (80, 63), (85, 69),
             (90, 78), (95, 90), (100, 100)),
    "webp": ((1, 1), (20, 13), (30, 27), (40, 38), (50, 46), (60, 53), (70, 68), (75, 73), (80, 78), (85, 81),
             (90, 85), (95, 90), (100, 94)),
}
CALIBRATED = tuple(CALIBRATION)


def calibrated_quality(name: str, jpeg_quality: int, effort: str = "fast") -> int:
    """The `name` encoder's quality (1-100), with [compression] `effort`, that looks like JPEG at
    `jpeg_quality` (1-100)."""
    points = (CALIBRATION_SMALL if effort == "small" else CALIBRATION)[name]
    for (q0, e0), (q1, e1) in zip(points, points[1:]):
        if jpeg_quality <= q1:
            return round(e0 + (e1 - e0) * (jpeg_quality - q0) / (q1 - q0))
    return points[-1][1]


# [compression] effort "small": what each encoder adds for fewer bytes at the same look, at more CPU
# (docs/compression.md, "Encoder settings"): x265's rate-distortion-optimised quantization and chroma
# 8 QP finer than luma, libaom at speed 6, libwebp's sharp RGB->YUV (edge.libwebp; stills only, as
# Pillow cannot ask for it).
_SMALL = {"heic": {"x265:rdoq-level": "2", "x265:cbqpoffs": "-8", "x265:crqpoffs": "-8"}, "avif": {"speed": 6},
          "webp": {"use_sharp_yuv": True}}


def encoder_options(name: str, quality: int, effort: str = "fast") -> dict:
    """Pillow save options for the lossy encoder of `name` (heic, avif, webp) at its own `quality`,
    with `effort` "fast" or "small" ([compression] effort)."""
    options = _fast_options(name, quality)
    if effort == "small" and name == "heic":
        options["enc_params"] = {**options["enc_params"], **_SMALL["heic"]}
    elif effort == "small":
        options.update(_SMALL[name])
    return options


def _fast_options(name: str, quality: int) -> dict:
    if name == "heic":
        # x265's own default preset; libheif's default ("slow") costs 2.1-2.6x the CPU for 0.2-2.8 %
        # fewer bytes at the same SSIM (benchmarks/encoders.py, docs/performance.md). Over libheif's
        # tune=ssim: variance AQ biased to dark areas (aq-mode 3) and chroma quantized 6 QP finer
        # than luma, which 4:2:0 photographs repay: 12 % fewer bytes at the same SSIMULACRA2, for
        # the same CPU, and still the 4:2:0 Main profile that Apple's decoders read
        # (docs/compression.md).
        return {"quality": quality, "enc_params": {"preset": "medium", "x265:aq-mode": "3",
                                                   "x265:cbqpoffs": "-6", "x265:crqpoffs": "-6"}}
    if name == "avif":
        # 4-5x cheaper than Pillow's default speed 6, for SSIM 0.001-0.002 lower at -1 to +1 % bytes
        # from 800 wide up (+14 % at 320 wide); speed 9 halves the CPU again for more bytes. Two
        # threads on every machine: libaom writes other bytes with one thread than with two or more,
        # and Pillow's default is a thread per core, so a one-core node of a fleet would give other
        # bytes under the same strong ETag. Under load two threads cost what one does (compare.py).
        return {"quality": quality, "speed": 8, "max_threads": 2}
    return {"quality": quality, "method": 4}


def _unscaled(frames: Frames, ctx: RenderContext) -> bool:
    """Whether `frames` are the source's whole picture at its own scale (turned at most): neither
    resized nor cropped, so a lossy source's blocks are where its encoder put them."""
    return frames.size in (ctx.source_size, ctx.source_size[::-1])


# How many x265 steps finer an HEIC is written when it re-encodes a JPEG at the JPEG's own scale,
# by the JPEG's quality: this second generation copies the JPEG's blocking and ringing, and loses
# more from a JPEG that carries more of them. At the calibrated setting, q75 sources lost 5.8-11.1
# SSIMULACRA2 points against the photograph, q90 ones 4.1-5.5; with 7 steps more, q75 sources lost
# 2.9-4.8 on four of them (docs/compression.md). Interpolated between; the nearest beyond.
_SECOND_GENERATION_HEIC = ((75, 7), (90, 0))


def second_generation_steps(ctx: RenderContext, unscaled: bool) -> int:
    """The x265 steps added for an HEIC of a JPEG at its own scale (0 for anything else)."""
    if not unscaled or ctx.source_format != "JPEG" or not ctx.source_quality:
        return 0
    (q0, s0), (q1, s1) = _SECOND_GENERATION_HEIC
    quality = min(max(ctx.source_quality, q0), q1)
    return round(s0 + (s1 - s0) * (quality - q0) / (q1 - q0))


def _save_options(fmt: OutputFormat, ctx: RenderContext, unscaled: bool) -> dict:
    if fmt.name == "jpg":
        # optimize: Huffman tables fitted to the image. The same pixels in 5-8% fewer bytes, for
        # 1% (300 wide) to 11% (1920 wide) more CPU per render (docs/performance.md); a rendition
        # is made once and sent many times.
        return {"quality": effective_quality(ctx), "progressive": ctx.progressive, "optimize": True}
    if fmt.name == "heic":
        quality = calibrated_quality("heic", effective_quality(ctx), ctx.effort)
        return encoder_options("heic", min(quality + second_generation_steps(ctx, unscaled), 100), ctx.effort)
    if fmt.name in CALIBRATED:
        return encoder_options(fmt.name, calibrated_quality(fmt.name, effective_quality(ctx), ctx.effort), ctx.effort)
    if fmt.name == "png":
        return {"compress_level": 6, "compress_type": zlib.Z_RLE if _photographic(ctx) else zlib.Z_FILTERED}
    if fmt.name == "tiff":
        return {"compression": "tiff_deflate"}
    return {}


# A GIF has no quality of its own; a dithered one scores ~70 SSIMULACRA2 against the clip it was
# made from, as a JPEG of about q60-q70 does against its photograph (docs/compression.md). So
# without q/Q a GIF is written as WebP at the JPEG scale's 70, not at the default of 85: that would
# spend bytes on copying the dithering noise closer than the GIF itself is to the picture.
GIF_QUALITY = 70
# Under how many bytes a GIF or a PNG holds a drawing (flat colours), not a photograph's noise:
# LZW stores a dithered clip in 0.2-0.9 B per pixel over all frames, drawings and screen recordings
# in under 0.05; zlib stores drawn stills (screenshots, charts, flat logos) in 0.002-0.03 B per pixel
# and channel, a shaded logo in 0.18, photographs (grey ones too) in 0.17-0.8 (docs/compression.md).
_DRAWN_GIF_BPP, _DRAWN_PNG_BPP_CHANNEL = 0.1, 0.05
# ... and under how many bytes a pixel (zlib's quickest level) the palette indices of frames brought
# to a palette are still a drawing's: resized drawings give 0.02-0.12, shaded logos, scanned pages
# and photographs 0.13-0.5. Over it, lossless WebP would cost 2-5x lossy's CPU for more bytes.
_DRAWN_INDICES_BPP = 0.15
_WEBP_LOSSLESS = {"lossless": True, "quality": 75, "method": 4, "minimize_size": True}


def drawn(ctx: RenderContext, channels: int) -> bool:
    """Whether the source, decoded to `channels` channels a pixel (1-4), is a drawing (cartoons,
    stickers, screen recordings, screenshots, charts, flat logos), judged by how small its lossless
    format stored it; a lossy source never is."""
    width, height = ctx.source_size
    pixels = width * height * max(1, ctx.source_frames)
    if ctx.source_format == "GIF":
        return ctx.source_bytes < _DRAWN_GIF_BPP * pixels
    return ctx.source_format == "PNG" and ctx.source_bytes < _DRAWN_PNG_BPP_CHANNEL * pixels * channels


def _webp_of_gif_or_drawing(images: list[Image.Image], frames: Frames,
                            ctx: RenderContext) -> tuple[list[Image.Image], dict] | None:
    """The `images` (RGB or RGBA, from `frames`) to write as WebP, animated or not, and the settings,
    for a GIF or a drawn PNG; None for other sources, which take the calibrated lossy encoder.

    A drawing is lossless, where it is smaller than lossy and exact. Frames resampled (resized,
    turned) or of over 256 colours are first brought to their GIF rendition's palette (_palette):
    resampling gives a flat drawing in-between colours at every edge, and lossless WebP pays for each.
    When the frames are not a drawing's after all (their palette indices, _DRAWN_INDICES_BPP: a
    still-background video clip stores as small as a drawing in a GIF, whose frames keep only what
    changed), or for a dithered, photo-like GIF, lossy, 4-6x smaller there. minimize_size lets
    libwebp choose each lossless frame's key-frame or difference encoding for the fewest bytes: 21 %
    fewer on the cartoon GIF than gif2webp's default (docs/compression.md)."""
    if drawn(ctx, len(frames.images[0].getbands())):
        indexed = [_palette(im) for im in images]
        pixels = frames.size[0] * frames.size[1] * len(images)
        if sum(len(zlib.compress(im.tobytes(), 1)) for im in indexed) < _DRAWN_INDICES_BPP * pixels:
            if _unscaled(frames, ctx) and all(im.getcolors(256) for im in images):
                return images, dict(_WEBP_LOSSLESS)  # the source's own colours, exactly (a copy: encode adds to it)
            return [p.convert(im.mode) for p, im in zip(indexed, images)], dict(_WEBP_LOSSLESS)
    if ctx.source_format != "GIF":
        return None
    asked = ctx.quality_absolute is not None or ctx.quality_relative is not None
    quality = effective_quality(ctx) if asked else GIF_QUALITY
    # No key frame but the first (kmax 0), as a GIF has none: Pillow's default of one every 5 frames
    # cost a still-background clip 40 % more bytes; minimize_size gets the same bytes (within 0.7 %)
    # for twice the CPU on dithered clips.
    return images, {**encoder_options("webp", calibrated_quality("webp", quality)), "kmin": 0, "kmax": 0}


def _palette(im: Image.Image) -> Image.Image:
    """`im` (RGB or RGBA) in 256 colours at most, by octree: for RGB ~7x quicker than Pillow's default
    median cut, for no visible gain at GIF sizes; for RGBA what Pillow's GIF writer does itself."""
    return im.quantize(method=Image.Quantize.FASTOCTREE)


# Lossy formats hold photographs (or what their noise makes look like one to zlib).
_LOSSY = ("JPEG", "MPO", "HEIF", "AVIF")


def _photographic(ctx: RenderContext) -> bool:
    """Whether the source looks like a photograph to zlib: a lossy format, or a file of at least a
    byte a pixel (drawings and screenshots store in far less). For photographs, zlib's run-length
    strategy writes the same size within ~1 % in a quarter of the time of its default (LZ77 finds
    little to match in them); for drawings it would write up to twice the bytes (docs/performance.md)."""
    width, height = ctx.source_size
    return ctx.source_format in _LOSSY or ctx.source_bytes >= width * height


def _to_output_mode(im: Image.Image, fmt: OutputFormat) -> Image.Image:
    """Convert to a mode the encoder takes; transparency becomes white where it cannot be kept."""
    has_alpha = im.mode in ("RGBA", "LA")
    if has_alpha and not fmt.alpha:
        return flatten(im)
    if fmt.name == "gif":
        if im.mode in ("P", "L") or has_alpha:
            return im  # Pillow's GIF writer reduces RGBA as _palette does
        return _palette(im if im.mode == "RGB" else im.convert("RGB"))  # convert() to the same mode copies
    if fmt.name in ("heic", "avif", "webp") and im.mode not in ("RGB", "RGBA"):
        return im.convert("RGBA" if has_alpha else "RGB")
    if fmt.name == "bmp" and im.mode == "LA":
        return im.convert("RGBA")
    return im


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def to_srgb(im: Image.Image, profile: bytes) -> Image.Image:
    """`im` (RGB, RGBA or CMYK) converted from its embedded ICC `profile` to sRGB (RGB or RGBA).

    An sRGB profile, or one that littlecms cannot read or use with this mode,
    leaves the pixels as they are (a broken profile must not fail the image);
    CMYK then falls back to Pillow's plain conversion later.
    """
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if "sRGB" in ImageCms.getProfileDescription(source):
            return im
        return ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGBA" if im.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im


def flatten(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite an image with alpha over a solid background (white by default)."""
    rgba = im.convert("RGBA")
    base = Image.new("RGB", im.size, background)
    base.paste(rgba, mask=rgba.getchannel("A"))
    return base if im.mode == "RGBA" else base.convert("L")


# IJG (libjpeg) base tables in natural order, as Pillow reports `quantization`.
_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)


def _scaled_table(quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (base * scale + 50) // 100)) for base in _LUMA]


_REFERENCE = {q: _scaled_table(q) for q in range(1, 101)}


def estimate_jpeg_quality(quantization: dict[int, list[int]] | None) -> int | None:
    """The IJG quality (1-100) whose luminance table is nearest the image's, or None without tables."""
    if not quantization or 0 not in quantization:
        return None
    table = tuple(quantization[0])
    if len(table) != 64:
        return None
    return _nearest_quality(table)


@functools.lru_cache(maxsize=256)
def _nearest_quality(table: tuple[int, ...]) -> int:
    # Cached: 6,400 differences in Python (~0.3 ms) per render, and most sources share a few tables.
    return min(_REFERENCE, key=lambda q: (sum(abs(a - b) for a, b in zip(table, _REFERENCE[q])), -q))
