"""The `probe` job: an original's format and size from its header, without decoding pixels. Runs in a worker."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from edge.errors import BadRequest
from edge.images import open_image, reading
from edge.render import source_bytes

if TYPE_CHECKING:
    from edge.jobs import ProbeJob


def probe(job: ProbeJob, data: bytes | None) -> dict:
    """{"format", "width", "height", "frames", "orientation"} of the original of `job`: the size as
    stored, and the EXIF orientation (1-8; 5-8 mean the upright picture is `height` x `width`).
    BadRequest if not an image."""
    raw = source_bytes(job, data)
    unreadable = partial(BadRequest, "the source object is not an image in a supported format")
    im = open_image(raw, unreadable, unreadable)
    with reading(unreadable):  # a header that claims frames or EXIF it lacks
        frames = getattr(im, "n_frames", 1) if getattr(im, "is_animated", False) else 1
        orientation = im.getexif().get(0x0112, 1)
    return {"format": im.format, "width": im.size[0], "height": im.size[1], "frames": frames,
            "orientation": orientation if orientation in range(1, 9) else 1}
