"""Faces for `type=face`: found with the Haar cascade that ships inside opencv-python-headless,
then given a gentler treatment than the rest of the picture. Runs in a worker.

The gentle version of a face is the enlarged image without the extra sharpening, half
blended with an edge-preserving (bilateral) smoothing: skin loses noise and blockiness,
while eyes, brows and lips, which are strong edges, keep their contours. It is laid over
the sharpened picture through a feathered ellipse, so no seam shows.
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

from edge.upscale.restore import to_uint8

MAX_FACES = 10          # the seed: "最多十个人"
_DETECT_SIDE = 1024     # faces are looked for on a copy at most this long: same faces, far less time
_MIN_FACE = 24          # px on that copy; the cascade's own window is 24x24
_GROW = 0.2             # a face box covers the forehead and chin only partly
_SMOOTH_SIGMA = 20.0    # bilateral: colour differences (0..255) it smooths across


@functools.cache
def _detector() -> cv2.CascadeClassifier:
    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    detector = cv2.CascadeClassifier(path)
    if detector.empty():
        raise RuntimeError(f"the face detector {path} could not be loaded")
    return detector


def find_faces(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Frontal faces in `rgb` as (x, y, width, height) in its pixels, the largest first, at most MAX_FACES."""
    height, width = rgb.shape[:2]
    shrink = min(1.0, _DETECT_SIDE / max(height, width))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if shrink < 1.0:
        gray = cv2.resize(gray, (round(width * shrink), round(height * shrink)), interpolation=cv2.INTER_AREA)
    found = _detector().detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5,
                                         minSize=(_MIN_FACE, _MIN_FACE))
    boxes = sorted((tuple(round(v / shrink) for v in box) for box in found), key=lambda b: -b[2] * b[3])
    return boxes[:MAX_FACES]


def soften_faces(sharpened: np.ndarray, plain: np.ndarray, faces: list[tuple[int, int, int, int]],
                 factor: int) -> np.ndarray:
    """`sharpened` with each face (boxes in input pixels, `factor` times smaller than these
    images) replaced by its gentle version made from `plain`, the unsharpened enlargement."""
    out = sharpened.copy()
    height, width = out.shape[:2]
    for x, y, w, h in faces:
        grow_x, grow_y = round(w * _GROW * factor), round(h * _GROW * factor)
        left, top = max(0, x * factor - grow_x), max(0, y * factor - grow_y)
        right, bottom = min(width, (x + w) * factor + grow_x), min(height, (y + h) * factor + grow_y)
        region = np.s_[top:bottom, left:right]
        base = plain[region]
        smooth = cv2.bilateralFilter(base, d=0, sigmaColor=_SMOOTH_SIGMA, sigmaSpace=factor)
        gentle = 0.5 * base.astype(np.float32) + 0.5 * smooth.astype(np.float32)
        mask = _feathered_ellipse(bottom - top, right - left)
        out[region] = to_uint8(mask * gentle + (1 - mask) * out[region].astype(np.float32))
    return out


def _feathered_ellipse(height: int, width: int) -> np.ndarray:
    """A height x width x 1 mask: 1 inside the inscribed ellipse, fading to 0 at the box's edge."""
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (width // 2, height // 2), (max(1, width * 2 // 5), max(1, height * 2 // 5)),
                0, 0, 360, 1.0, thickness=-1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, min(height, width) / 12))
    return mask[:, :, None]
