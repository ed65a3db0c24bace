"""The `snapshot` job: one frame of a video (H.264 in mp4/mov, or anything FFmpeg reads). Runs in a worker.

A file source is opened by path: FFmpeg reads only what the seek and the
decode need, never the whole video. An HTTP source arrives as bytes, bounded
by `limits.video_bytes`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import av

from edge.codecs import encode
from edge.errors import BadRequest, ImageTooLarge, InvalidArgument
from edge.frames import Frames, RenderContext

if TYPE_CHECKING:
    from edge.jobs import SnapshotJob

# A hostile file could hold endless frames before the time asked; decoding stops here.
MAX_FRAMES_AFTER_SEEK = 2000


def snapshot(job: SnapshotJob, data: bytes | None) -> tuple[dict, bytes]:
    """Encode the frame that `job`'s snapshot step asks for; returns (meta, body) as a rendition's."""
    step = job.pipeline.steps[0]
    ctx = RenderContext(limits=job.limits, source_format="VIDEO")
    step.before_decode(ctx)
    try:
        with av.open(job.path if data is None else io.BytesIO(data), mode="r") as container:
            image = _grab(container, ctx)
    except av.FFmpegError:
        raise BadRequest("the source is not a readable video") from None
    frames = step.apply(Frames([image]), ctx)
    body, fmt = encode(frames, ctx)
    width, height = frames.size
    return {"content_type": fmt.content_type, "format": fmt.name, "width": width, "height": height,
            "frames": 1}, body


def _grab(container, ctx: RenderContext):
    limits = ctx.limits
    if not container.streams.video:
        raise BadRequest("the source has no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width > limits.source_side or height > limits.source_side or width * height > limits.source_pixels:
        raise ImageTooLarge(f"the video is {width}x{height}, over the source limits")
    duration_ms = _duration_ms(container, stream)
    if duration_ms is not None and ctx.frame_ms > duration_ms:
        raise InvalidArgument(f"snapshot: t_{ctx.frame_ms} is past the end of the video ({duration_ms} ms)")
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    target = start + ctx.frame_ms / 1000
    # Backward seek: lands on the last keyframe at or before the target.
    container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
    chosen = None
    for count, frame in enumerate(container.decode(stream)):
        if ctx.keyframe:
            return frame.to_image()
        if chosen is not None and frame.time is not None and frame.time > target + 1e-6:
            break  # the frame on screen at `target` is the last one that starts at or before it
        chosen = frame
        if count >= MAX_FRAMES_AFTER_SEEK:
            break
    if chosen is None:
        raise BadRequest("the video has no decodable frame at that time")
    return chosen.to_image()


def _duration_ms(container, stream) -> int | None:
    if stream.duration is not None:
        return int(stream.duration * stream.time_base * 1000)
    if container.duration is not None:
        return int(container.duration / 1000)  # microseconds
    return None
