"""What operations work on: the frames of an image, and the settings of the rendition being made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from edge.config import Limits
from edge.errors import ImageTooLarge


@dataclass
class Frames:
    """The decoded image: one frame for a still, all frames for a kept animation.

    `durations` holds each frame's display time in ms (empty for a still);
    `loop` is the animation loop count (0 forever, None when the source had none).
    """

    images: list[Image.Image]
    durations: list[int] = field(default_factory=list)
    loop: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.images[0].size

    def map(self, transform: Callable[[Image.Image], Image.Image]) -> "Frames":
        """The same animation with `transform` applied to every frame."""
        return Frames([transform(im) for im in self.images], self.durations, self.loop)


@dataclass
class RenderContext:
    """Facts about the source and the output settings that encode-stage operations fill in.

    `source_format` is Pillow's name ("JPEG"); `source_quality` the estimated
    JPEG quality (None for other formats); `source_bytes`, `source_size` (as
    stored, before auto-orient), `source_frames` and `source_exif` describe
    the stored file. `output_format` is our name ("jpg", "webp"...) once a
    format step or the source decided it.

    An operation that answers with JSON instead of an image (info,
    average-hue) sets `document`; the renderer then returns it as
    `application/json` and encodes no image.

    `inputs` holds the other objects the pipeline reads (watermark images),
    by key: a file path for the worker to read, or the bytes themselves.

    Whole-image settings tell the decoder what to do here: `auto_orient`
    (turn the picture upright from its EXIF orientation), and for a video
    `frame_ms`, the time of the frame to take, with `keyframe` (take the last
    keyframe at or before it: quicker, less exact).
    """

    limits: Limits
    source_format: str
    source_quality: int | None = None
    source_bytes: int = 0
    source_size: tuple[int, int] = (0, 0)
    source_frames: int = 1
    source_exif: Image.Exif | None = None
    output_format: str | None = None
    quality_absolute: int | None = None
    quality_relative: int | None = None
    progressive: bool = False
    auto_orient: bool = True
    frame_ms: int = 0
    keyframe: bool = False
    # Set when the decoder shrank the source (JPEG draft): its full, upright size.
    undrafted_size: tuple[int, int] | None = None
    document: dict | None = None
    inputs: dict[str, str | bytes] = field(default_factory=dict)
    effort: str = "fast"  # [compression] effort (edge.codecs.encoder_options)

    def pop_undrafted_size(self) -> tuple[int, int] | None:
        """The full source size if the frames are a shrunk decode of it (once; later steps see real sizes)."""
        size, self.undrafted_size = self.undrafted_size, None
        return size

    def check_target(self, width: int, height: int, what: str) -> None:
        """Raise ImageTooLarge when a `width` x `height` result breaks the target limits."""
        limits = self.limits
        if width > limits.target_side or height > limits.target_side:
            raise ImageTooLarge(
                f"{what}: the result {width}x{height} has a side over {limits.target_side} pixels")
        if width * height > limits.target_pixels:
            raise ImageTooLarge(
                f"{what}: the result {width}x{height} is over {limits.target_pixels} pixels")
