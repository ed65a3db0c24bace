"""What the server sends a worker for one upscale (kept apart from edge.upscale.enhance, whose
OpenCV and numpy the server process never needs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpscaleJob:
    kind: str                 # "clean" or "face"
    asked_factor: int | None  # 1, 2 or 4; None for the seed's automatic rule
    model_path: str           # the operator's ONNX model; "" for the built-in restoration
    seconds: float            # time left for the task when the job was sent
