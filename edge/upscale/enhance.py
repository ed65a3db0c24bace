"""The `upscale` job: check, restore and enlarge one image. Runs in a worker (edge.upscale.job.UpscaleJob).

    bytes --open (seed's formats and limits)--> pixels in sRGB, upright
          --denoise (when noisy)--> --enlarge (built-in, or the ONNX model)
          --sharpen (built-in, when not denoised)--> --faces get a gentler treatment (type=face)
          --> JPEG, or PNG when there is transparency
"""

from __future__ import annotations

import io
from functools import partial
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image, ImageOps

from edge.images import open_image, reading
from edge.render import normalise
from edge.upscale import onnx_model
from edge.upscale.deadline import Deadline
from edge.upscale.errors import InvalidImage
from edge.upscale.faces import find_faces, soften_faces
from edge.upscale.restore import NOISE_THRESHOLD, denoise, enlarge, noise_sigma, sharpen
from edge.upscale.rules import ANIMATABLE, FORMATS, MAX_SIDE, MIN_SIDE, scale_factor

if TYPE_CHECKING:
    from edge.upscale.job import UpscaleJob

JPEG_QUALITY = 95


def upscale(job: UpscaleJob, data: bytes | None) -> tuple[dict, bytes]:
    """The restored image of `data`, encoded, with {"content_type", "note"} (`note`: why the
    factor differs from the one asked, else "").

    Raises InvalidImage (state -7) for anything but a jpg/png/bmp/webp/tiff still image of
    10..4096 px per side, EnhanceTimeout (-8) past `job.seconds`, EnhanceFailed (-1) when the
    ONNX model cannot be used.
    """
    deadline = Deadline(job.seconds)
    im = _open(data or b"")
    factor, note = scale_factor(max(im.size), job.asked_factor)
    rgb, alpha = _pixels(im)
    noise = noise_sigma(rgb)
    if noise >= NOISE_THRESHOLD:
        rgb = denoise(rgb, noise, deadline)
    if job.model_path:
        plain = onnx_model.load(job.model_path).enlarge(rgb, factor, deadline)
        result = plain  # a model does its own detail work; sharpening on top would overdo it
    else:
        plain = enlarge(rgb, factor, deadline)
        result = plain if noise >= NOISE_THRESHOLD else sharpen(plain)
    faces = find_faces(rgb) if job.treatment == "face" else []
    if faces:
        result = soften_faces(result, plain, faces, factor)
    deadline.check()
    body, content_type = _encode(result, alpha)
    return {"content_type": content_type, "note": note}, body


def _open(data: bytes) -> Image.Image:
    """The decoded, upright image; InvalidImage for what the seed does not accept."""
    unreadable = partial(InvalidImage, "the file is not an image in a supported format "
                                       "(jpg, jpeg, png, bmp, webp, tiff)")
    im = open_image(data, unreadable, unreadable)
    if im.format not in FORMATS:
        refused = "GIF animations cannot be restored" if im.format == "GIF" else f"{im.format} is not supported"
        raise InvalidImage(f"{refused}; send jpg, jpeg, png, bmp, webp or tiff")
    corrupt = partial(InvalidImage, "the image data is corrupt or truncated")
    with reading(corrupt):
        animated = im.format in ANIMATABLE and getattr(im, "n_frames", 1) > 1
    if animated:
        raise InvalidImage(f"the {im.format} is an animation; only still images can be restored")
    width, height = im.size  # from the header: a decompression bomb is refused before decoding
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InvalidImage(f"the image is {width}x{height}; at most {MAX_SIDE}x{MAX_SIDE} is supported")
    if max(width, height) < MIN_SIDE:
        raise InvalidImage(f"the image is {width}x{height}; its long side must be at least {MIN_SIDE} px")
    with reading(corrupt):
        im.load()
        return ImageOps.exif_transpose(im)


def _pixels(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB uint8 array in sRGB, the alpha plane or None when the image is opaque)."""
    im = normalise(im, im.info.get("icc_profile"))
    alpha = None
    if im.mode in ("RGBA", "LA"):
        plane = im.getchannel("A")
        if plane.getextrema() != (255, 255):
            alpha = np.asarray(plane)
    return np.asarray(im.convert("RGB")), alpha


def _encode(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[bytes, str]:
    """JPEG (quality 95, no chroma subsampling), or PNG when there is transparency to keep."""
    out = io.BytesIO()
    if alpha is None:
        Image.fromarray(rgb).save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
        return out.getvalue(), "image/jpeg"
    height, width = rgb.shape[:2]
    alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LANCZOS4)
    Image.fromarray(np.dstack([rgb, alpha])).save(out, "PNG")
    return out.getvalue(), "image/png"
