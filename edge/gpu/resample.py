"""The GPU path's pixel arithmetic: Pillow's LANCZOS resampling and the JPEG draft's box average.

The CPU path (edge.render) decodes a JPEG at 1/2, 1/4 or 1/8 scale (libjpeg's
DCT scaling, `draft`) and resizes with Pillow's LANCZOS. nvJPEG has no scaled
decode, so the GPU path decodes whole, averages s x s blocks (what a DCT-scaled
decode's DC term is) and resizes with Pillow's own coefficients and fixed-point
arithmetic, so its pixels stay within SSIM 0.99 of the CPU's.

`coefficients` computes Pillow's filter taps (libImaging/Resample.c) on the
host; `CpuResampler` applies them with Pillow itself (the stand-in where no GPU
is present) and `CudaResampler` with two small CUDA kernels through CuPy (the
same integer arithmetic: the same input gives the same bytes as Pillow).
"""

from __future__ import annotations

import math

import numpy as np

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images
_SUPPORT = 3.0  # LANCZOS


def _lanczos(x: np.ndarray) -> np.ndarray:
    inside = np.abs(x) < _SUPPORT
    return np.where(inside, np.sinc(x) * np.sinc(x / _SUPPORT), 0.0)


def coefficients(in_size: int, out_size: int, box: tuple[float, float] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Pillow's LANCZOS taps to resample `in_size` pixels (or the span `box` of them) to `out_size`:
    (first input pixel per output int32[out], taps per output int32[out], fixed-point weights
    int32[out, ksize], ksize). Weights sum to 2**PRECISION_BITS within rounding."""
    in0, in1 = box if box is not None else (0.0, float(in_size))
    scale = (in1 - in0) / out_size
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    centers = in0 + (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum((centers - support + 0.5).astype(np.int64), 0)  # C's (int) truncates
    xmax = np.minimum((centers + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(ksize)
    weights = _lanczos((taps[None, :] + xmin[:, None] - centers[:, None] + 0.5) / filterscale)
    weights[taps[None, :] >= xmax[:, None]] = 0.0
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=weights, where=totals != 0)
    fixed = np.trunc(np.where(weights < 0, -0.5, 0.5) + weights * (1 << PRECISION_BITS)).astype(np.int32)
    return xmin.astype(np.int32), xmax.astype(np.int32), fixed, ksize


def draft_scale(size: tuple[int, int], wanted: tuple[int, int]) -> int:
    """The DCT scale (1, 2, 4 or 8) Pillow's JPEG `draft` picks for `wanted` from a `size` image."""
    scale = min(size[0] // wanted[0], size[1] // wanted[1])
    return next(s for s in (8, 4, 2, 1) if scale >= s)


def reduce_numpy(pixels: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """The mean of each fy x fx block of an HxWxC uint8 array (blocks at the edges: of what they
    hold), rounded half up: an array of ceil(H/fy) x ceil(W/fx) x C."""
    height, width = pixels.shape[:2]
    out_h, out_w = -(-height // fy), -(-width // fx)
    padded = np.zeros((out_h * fy, out_w * fx, pixels.shape[2]), np.uint32)
    padded[:height, :width] = pixels
    sums = padded.reshape(out_h, fy, out_w, fx, -1).sum(axis=(1, 3))
    counts = (np.minimum(np.arange(out_h) * fy + fy, height) - np.arange(out_h) * fy)[:, None] * \
             (np.minimum(np.arange(out_w) * fx + fx, width) - np.arange(out_w) * fx)[None, :]
    return ((sums + counts[..., None] // 2) // counts[..., None]).astype(np.uint8)


def gap_factors(size: tuple[int, int], target: tuple[int, int], gap: float = 3.0) -> tuple[int, int]:
    """The box reduction Pillow's resize(reducing_gap=`gap`) does before resampling."""
    return (int(size[0] / target[0] / gap) or 1, int(size[1] / target[1] / gap) or 1)


class CpuResampler:
    """Resampling on host arrays with Pillow: the stand-in for the GPU where none is present."""

    name = "pillow"

    def reduce(self, pixels, fx: int, fy: int):
        return reduce_numpy(pixels, fx, fy)

    def resize(self, pixels, size: tuple[int, int], box: tuple[float, float, float, float] | None = None):
        from PIL import Image

        image = Image.fromarray(pixels)
        return np.asarray(image.resize(size, Image.Resampling.LANCZOS, box=box))


_KERNELS = r"""
extern "C" __global__ void resample_rows(const unsigned char* src, unsigned char* dst, int in_w, int out_w,
        int rows, int channels, int row0, const int* first, const int* count, const int* weights, int ksize) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y;
    if (x >= out_w || y >= rows) return;
    const unsigned char* line = src + (size_t)(y + row0) * in_w * channels;
    const int* k = weights + (size_t)x * ksize;
    int x0 = first[x], n = count[x];
    for (int c = 0; c < channels; ++c) {
        int ss = 1 << (22 - 1);
        for (int i = 0; i < n; ++i) ss += line[(x0 + i) * channels + c] * k[i];
        ss >>= 22;
        dst[((size_t)y * out_w + x) * channels + c] = (unsigned char)(ss < 0 ? 0 : (ss > 255 ? 255 : ss));
    }
}

extern "C" __global__ void resample_columns(const unsigned char* src, unsigned char* dst, int width,
        int out_h, int channels, const int* first, const int* count, const int* weights, int ksize) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y;
    if (x >= width * channels || y >= out_h) return;
    const int* k = weights + (size_t)y * ksize;
    int y0 = first[y], n = count[y];
    int ss = 1 << (22 - 1);
    for (int i = 0; i < n; ++i) ss += src[(size_t)(y0 + i) * width * channels + x] * k[i];
    ss >>= 22;
    dst[(size_t)y * width * channels + x] = (unsigned char)(ss < 0 ? 0 : (ss > 255 ? 255 : ss));
}

extern "C" __global__ void box_reduce(const unsigned char* src, unsigned char* dst, int in_w, int in_h,
        int out_w, int out_h, int channels, int fx, int fy) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y;
    if (x >= out_w || y >= out_h) return;
    int x1 = min(x * fx + fx, in_w), y1 = min(y * fy + fy, in_h);
    int n = (x1 - x * fx) * (y1 - y * fy);
    for (int c = 0; c < channels; ++c) {
        unsigned int ss = 0;
        for (int yy = y * fy; yy < y1; ++yy)
            for (int xx = x * fx; xx < x1; ++xx) ss += src[((size_t)yy * in_w + xx) * channels + c];
        dst[((size_t)y * out_w + x) * channels + c] = (unsigned char)((ss + n / 2) / n);
    }
}
"""


class CudaResampler:
    """The same arithmetic on CuPy arrays (HxWxC uint8 on the current device), one kernel per pass.

    Like Pillow, rows first into an intermediate of only the input rows the columns pass reads."""

    name = "cuda"

    def __init__(self) -> None:
        import cupy

        self.cupy = cupy
        module = cupy.RawModule(code=_KERNELS)
        self._rows = module.get_function("resample_rows")
        self._columns = module.get_function("resample_columns")
        self._reduce = module.get_function("box_reduce")
        self._taps: dict = {}

    def _coefficients(self, in_size, out_size, box):
        key = (in_size, out_size, box)
        if key not in self._taps:
            if len(self._taps) > 256:
                self._taps.clear()
            first, count, weights, ksize = coefficients(in_size, out_size, box)
            self._taps[key] = (self.cupy.asarray(first), self.cupy.asarray(count), self.cupy.asarray(weights),
                               ksize, first, count)
        return self._taps[key]

    def reduce(self, pixels, fx: int, fy: int):
        cp = self.cupy
        height, width, channels = pixels.shape
        out_h, out_w = -(-height // fy), -(-width // fx)
        out = cp.empty((out_h, out_w, channels), cp.uint8)
        self._reduce(((out_w + 127) // 128, out_h), (128,),
                     (pixels, out, np.int32(width), np.int32(height), np.int32(out_w), np.int32(out_h),
                      np.int32(channels), np.int32(fx), np.int32(fy)))
        return out

    def resize(self, pixels, size: tuple[int, int], box: tuple[float, float, float, float] | None = None):
        cp = self.cupy
        height, width, channels = pixels.shape
        box = box or (0.0, 0.0, float(width), float(height))
        out_w, out_h = size
        pixels = cp.ascontiguousarray(pixels)
        need_rows = out_w != width or box[0] != 0 or box[2] != width
        need_columns = out_h != height or box[1] != 0 or box[3] != height
        vfirst, vcount, vweights, vksize, vfirst_host, vcount_host = self._coefficients(
            height, out_h, (box[1], box[3]))
        if need_rows:
            row0, row1 = int(vfirst_host[0]), int(vfirst_host[-1] + vcount_host[-1])
            if not need_columns:
                row0, row1 = 0, height
            hfirst, hcount, hweights, hksize, _, _ = self._coefficients(width, out_w, (box[0], box[2]))
            temp = cp.empty((row1 - row0, out_w, channels), cp.uint8)
            self._rows(((out_w + 127) // 128, row1 - row0), (128,),
                       (pixels, temp, np.int32(width), np.int32(out_w), np.int32(row1 - row0), np.int32(channels),
                        np.int32(row0), hfirst, hcount, hweights, np.int32(hksize)))
            pixels, width = temp, out_w
            if need_columns and row0:
                vfirst = vfirst - row0
        if not need_columns:
            return pixels
        out = cp.empty((out_h, width, channels), cp.uint8)
        self._columns(((width * channels + 127) // 128, out_h), (128,),
                      (pixels, out, np.int32(width), np.int32(out_h), np.int32(channels),
                       vfirst, vcount, vweights, np.int32(vksize)))
        return out
