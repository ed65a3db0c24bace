"""An operator's ONNX super-resolution model, run with onnxruntime on the CPU. Runs in a worker.

The model file's contract (docs/upscale.md): one input and one output, float32, NCHW,
values in [0, 1]; 3 channels (RGB) or 1 (luma, the Y of YCrCb: the colour is then enlarged
with Lanczos); the output's height and width are the input's times one whole number, the
model's own factor, learnt from its first answer. A model with a fixed input height and
width is fed tiles of exactly that size. Each tile is resized from the model's factor to
the factor asked (1, 2 or 4) before it is placed, so memory follows the result's size.
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

from edge.upscale.deadline import Deadline
from edge.upscale.errors import EnhanceFailed
from edge.upscale.restore import to_uint8

_TILE = 256     # input pixels per tile side when the model takes any size
_CONTEXT = 16   # pixels of neighbourhood around each tile, cut off again, so no seam shows


def load(path: str) -> OnnxUpscaler:
    """The model at `path`, loaded once per worker process (again if the file changes)."""
    try:
        modified = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise EnhanceFailed(f"the ONNX model {os.path.basename(path)} cannot be read: {exc.strerror}") from None
    return _load(path, modified)


@functools.lru_cache(maxsize=1)
def _load(path: str, modified: int) -> OnnxUpscaler:
    return OnnxUpscaler(path)


class OnnxUpscaler:
    """`enlarge(rgb, factor, deadline)` with the model; EnhanceFailed for a model that breaks its contract."""

    def __init__(self, path: str) -> None:
        import onnxruntime  # only the workers of a server configured with a model pay for it

        self.name = os.path.basename(path)
        options = onnxruntime.SessionOptions()
        # The worker pool is the parallelism: one thread per worker keeps workers from fighting.
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types, for any unreadable model
            raise self._failure("could not be loaded", exc) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4:
            raise EnhanceFailed(f"the ONNX model {self.name} must take one float32 NCHW input and give one output")
        self.input = inputs[0].name
        _, channels, height, width = inputs[0].shape
        self.channels = channels if isinstance(channels, int) else 3
        if self.channels not in (1, 3):
            raise EnhanceFailed(f"the ONNX model {self.name} takes {channels} channels; it must take 3 (RGB) or 1 (Y)")
        if isinstance(height, int) and isinstance(width, int):
            self.context = min(_CONTEXT, height // 4, width // 4)
            self.window = (height, width)
        else:
            self.context = _CONTEXT
            self.window = (_TILE + 2 * _CONTEXT, _TILE + 2 * _CONTEXT)

    def enlarge(self, rgb: np.ndarray, factor: int, deadline: Deadline) -> np.ndarray:
        """`rgb` (uint8, H x W x 3) enlarged `factor` times by the model."""
        if self.channels == 3:
            return to_uint8(self._run(rgb.astype(np.float32) / 255, factor, deadline) * 255)
        ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
        luma = self._run(ycrcb[:, :, :1].astype(np.float32) / 255, factor, deadline)
        height, width = rgb.shape[:2]
        colour = cv2.resize(ycrcb[:, :, 1:], (width * factor, height * factor), interpolation=cv2.INTER_LANCZOS4)
        return cv2.cvtColor(np.dstack([to_uint8(luma * 255), colour]), cv2.COLOR_YCrCb2RGB)

    def _run(self, planes: np.ndarray, factor: int, deadline: Deadline) -> np.ndarray:
        """`planes` (H x W x C floats in [0, 1]) through the model, tile by tile; H*factor x W*factor x C."""
        height, width, channels = planes.shape
        window_h, window_w = self.window
        core_h, core_w, context = window_h - 2 * self.context, window_w - 2 * self.context, self.context
        # Edge-replicated context around the image, and whole tiles to the bottom and right.
        padded = np.pad(planes, ((context, context + (-height) % core_h), (context, context + (-width) % core_w),
                                 (0, 0)), mode="edge")
        out = np.empty((height * factor, width * factor, channels), np.float32)
        for top in range(0, height, core_h):
            for left in range(0, width, core_w):
                deadline.check()
                window = padded[top:top + window_h, left:left + window_w]
                enlarged = self._tile(window, factor)
                rows, cols = min(core_h, height - top), min(core_w, width - left)
                out[top * factor:(top + rows) * factor, left * factor:(left + cols) * factor] = enlarged[
                    context * factor:(context + rows) * factor, context * factor:(context + cols) * factor]
        return np.clip(out, 0.0, 1.0)

    def _tile(self, window: np.ndarray, factor: int) -> np.ndarray:
        """One window (h x w x C) through the model, then resized to `factor` times its size."""
        tensor = np.ascontiguousarray(window.transpose(2, 0, 1)[None])
        try:
            (answer,) = self.session.run(None, {self.input: tensor})
        except Exception as exc:  # onnxruntime's own exception types, for a model that fails to run
            raise self._failure("failed to run", exc) from None
        height, width, channels = window.shape
        if (answer.ndim != 4 or answer.shape[:2] != (1, channels) or answer.shape[2] % height
                or answer.shape[3] % width or answer.shape[2] // height != answer.shape[3] // width):
            raise EnhanceFailed(f"the ONNX model {self.name} answered a tensor of shape {list(answer.shape)} for "
                                f"{list(tensor.shape)}; it must be [1, {channels}, k*{height}, k*{width}]")
        image = answer[0].transpose(1, 2, 0).astype(np.float32)
        if answer.shape[2] != height * factor:
            shrinking = answer.shape[2] > height * factor
            image = cv2.resize(image, (width * factor, height * factor),
                               interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
        return image.reshape(height * factor, width * factor, channels)

    def _failure(self, what: str, exc: Exception) -> EnhanceFailed:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no detail given"
        return EnhanceFailed(f"the ONNX model {self.name} {what}: {detail}")
