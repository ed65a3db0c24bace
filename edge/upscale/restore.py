"""The built-in classical restoration, on uint8 RGB arrays (height x width x 3). Runs in a worker.

Three steps, each a plain, documented image-processing technique (docs/upscale.md):

- `denoise`: when the image is measurably noisy (`noise_sigma` at least NOISE_THRESHOLD),
  non-local means (OpenCV) of that strength, in strips.
- `enlarge`: Lanczos interpolation, refined by iterative back-projection: the estimate is
  shrunk back to the input's size, compared with the input, and the difference enlarged and
  added, so the result stays consistent with what the camera actually recorded.
- `sharpen`: a mild unsharp mask, the "detail enhancement" that the enlargement softened;
  not for an image that was denoised, where it would bring back the noise just removed.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.upscale.deadline import Deadline

# A Laplacian-like kernel that cancels smooth gradients; its response to white noise of
# deviation s has deviation 6 s (the root of the sum of its squared weights).
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
# Luminance noise (0..255) below which denoising would only smear real detail.
NOISE_THRESHOLD = 3.0
_TEMPLATE, _SEARCH = 7, 11            # non-local means windows: 11 is ~2.5x faster than OpenCV's 21
_STRIP = 256                          # rows denoised between two deadline checks
_MARGIN = _SEARCH // 2 + _TEMPLATE // 2  # rows of context a strip needs to match a whole-image run
_BACK_PROJECTIONS = 3                 # rounds; later ones change the result by well under one level
_SHARPEN_AMOUNT, _SHARPEN_SIGMA = 0.3, 1.0


def noise_sigma(rgb: np.ndarray) -> float:
    """The standard deviation (0..255) of white noise in the luminance of `rgb`.

    The median of the kernel's absolute response, not its mean, so that edges and
    texture (few, large responses) do not pass for noise (Immerkaer's estimator, made robust).
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if min(gray.shape) < 3:
        return 0.0
    response = cv2.filter2D(gray, -1, _NOISE_KERNEL)[1:-1, 1:-1]
    return float(np.median(np.abs(response))) / (0.6745 * 6)


def denoise(rgb: np.ndarray, strength: float, deadline: Deadline) -> np.ndarray:
    """`rgb` with noise of deviation `strength` (0..255, from `noise_sigma`) removed."""
    height = rgb.shape[0]
    out = np.empty_like(rgb)
    for top in range(0, height, _STRIP):
        deadline.check()
        low, high = max(0, top - _MARGIN), min(height, top + _STRIP + _MARGIN)
        bgr = np.ascontiguousarray(rgb[low:high, :, ::-1])  # OpenCV's colour conversions expect BGR
        clean = cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, _TEMPLATE, _SEARCH)
        rows = min(_STRIP, height - top)
        out[top:top + rows] = clean[top - low:top - low + rows, :, ::-1]
    return out


def enlarge(rgb: np.ndarray, factor: int, deadline: Deadline) -> np.ndarray:
    """`rgb` enlarged `factor` times (1, 2 or 4) by Lanczos and back-projection."""
    if factor == 1:
        return rgb
    height, width = rgb.shape[:2]
    target = (width * factor, height * factor)
    low = rgb.astype(np.float32)
    estimate = cv2.resize(low, target, interpolation=cv2.INTER_LANCZOS4)
    for _ in range(_BACK_PROJECTIONS):
        deadline.check()
        error = low - cv2.resize(estimate, (width, height), interpolation=cv2.INTER_AREA)
        estimate += cv2.resize(error, target, interpolation=cv2.INTER_CUBIC)
    return to_uint8(estimate)


def sharpen(rgb: np.ndarray) -> np.ndarray:
    """A mild unsharp mask: `rgb` + 0.3 x (`rgb` - its Gaussian blur of sigma 1 px)."""
    blurred = cv2.GaussianBlur(rgb, (0, 0), _SHARPEN_SIGMA)
    return cv2.addWeighted(rgb, 1 + _SHARPEN_AMOUNT, blurred, -_SHARPEN_AMOUNT, 0)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels on the 0..255 scale, rounded and clipped to uint8."""
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)
