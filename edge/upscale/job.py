"""What the server sends a worker for one upscale (kept apart from edge.upscale.enhance, whose
OpenCV and numpy the server process never needs: the worker imports it with the first job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edge.jobs import Emit, Job, Made


@dataclass(frozen=True)
class UpscaleJob(Job):
    """Restore one image; made: {"content_type", "note"} and the encoded image (edge.upscale.enhance)."""

    name: ClassVar[str] = "upscale"
    treatment: str            # "clean" or "face" (the API's `type`)
    asked_factor: int | None  # 1, 2 or 4; None for the seed's automatic rule
    model_path: str           # the operator's ONNX model; "" for the built-in restoration
    seconds: float            # time left for the task when the job was sent

    def run(self, data: bytes | None, emit: Emit) -> Made:
        from edge.upscale.enhance import upscale

        return Made(*upscale(self, data))
