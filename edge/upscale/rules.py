"""The numbers of the upscale seed (002): input limits, accepted formats and the scale-factor rule."""

from __future__ import annotations

MAX_BYTES = 15 * 1024 * 1024  # "不超过15MB(含15MB)": 15 MB itself is accepted
MAX_SIDE = 4096               # both sides, so at most 4096x4096
MIN_SIDE = 10                 # the long side; the seed's ranges start at 10
MAX_URL = 512                 # characters of image_url
DOWNLOAD_SECONDS = 10.0
LINK_SECONDS = 3600           # result links are valid for one hour

# Pillow's names of jpg, jpeg, bmp/bitmap, png, webp, tiff (MPO is a JPEG with extra pictures).
FORMATS = ("JPEG", "MPO", "PNG", "BMP", "WEBP", "TIFF")
# Of these, the ones that can be animations; an animation is refused like a GIF.
ANIMATABLE = ("PNG", "WEBP")

# factor -> the largest long side it applies to ("1倍 [10,4096]; 2倍 [10,1000]; 4倍 [10,500]").
_FACTOR_LIMITS = {1: MAX_SIDE, 2: 1000, 4: 500}
FACTORS = tuple(_FACTOR_LIMITS)


def scale_factor(long_side: int, asked: int | None) -> tuple[int, str]:
    """The factor to apply to an image whose long side is `long_side` (MIN_SIDE..MAX_SIDE px),
    and a note for the client ("" when the answer is what was asked).

    Without `asked`, the seed's automatic rule: (10,500] x4, (500,1000] x2, (1000,4096] x1
    (a long side of exactly 10 counts as x4). An `asked` factor whose long-side range does not
    hold the image "does not take effect": the image is restored at its own size (x1).
    """
    if asked is None:
        return next(f for f in (4, 2, 1) if long_side <= _FACTOR_LIMITS[f]), ""
    if long_side <= _FACTOR_LIMITS[asked]:
        return asked, ""
    return 1, (f"scale_factor {asked} was not applied: it needs a long side of at most "
               f"{_FACTOR_LIMITS[asked]} px and this image's is {long_side} px")
