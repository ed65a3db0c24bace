"""How close an encoded image looks to its reference: SSIMULACRA2 (PyPI `ssimulacra2`, the metric
of libjxl's tools: 90 is visually lossless, 70 high, 50 medium quality) and luma SSIM.

Both take Pillow images of the same size. Transparent images are scored over a dark and a light
background and the worse score is kept, as libjxl's ssimulacra2 does.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from ssimulacra2 import compute_ssimulacra2

from jpeg import ssim as _luma_ssim

_BACKGROUNDS = ((25, 25, 25), (230, 230, 230))


def _over(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    base = Image.new("RGB", im.size, background)
    rgba = im.convert("RGBA")
    base.paste(rgba, mask=rgba.getchannel("A"))
    return base


def _views(im: Image.Image, alpha: bool) -> list[Image.Image]:
    return [_over(im, bg) for bg in _BACKGROUNDS] if alpha else [im.convert("RGB")]


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def _png(im: Image.Image) -> io.BytesIO:
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=0)
    out.seek(0)
    return out


def ssimulacra2(reference: Image.Image, distorted: Image.Image) -> float:
    """SSIMULACRA2 of `distorted` against `reference` (100 identical; below 0 very bad)."""
    alpha = _has_alpha(reference) or _has_alpha(distorted)
    return min(compute_ssimulacra2(_png(r), _png(d))
               for r, d in zip(_views(reference, alpha), _views(distorted, alpha)))


def ssim(reference: Image.Image, distorted: Image.Image, k: int = 7) -> float:
    """Mean luma SSIM (Wang et al. 2004 constants, uniform k x k windows), the worse background
    for transparent images."""
    alpha = _has_alpha(reference) or _has_alpha(distorted)
    return min(_luma_ssim(np.asarray(r.convert("L"), dtype=np.float64), np.asarray(d.convert("L"), dtype=np.float64), k)
               for r, d in zip(_views(reference, alpha), _views(distorted, alpha)))
