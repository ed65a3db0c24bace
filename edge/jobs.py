"""What the server asks of a worker process: a class per job kind, and what each answers.

A job is a frozen dataclass, pickled to a worker, which calls `job.run(data,
emit)` there and sends back what it returns, a `Made` (meta, body), or what it
raised: an `OssError` (the request's answer) or a `JobFailure` (a job that
ended badly in a way its caller answers itself, as an upscale task's negative
state). Anything else a job raises is a bug, answered InternalError. The pool
and the worker know jobs only through this interface, so a new kind of job is
one class; its code is imported in the worker when its first job comes (PyAV,
OpenCV: tens of MB the server and most workers never need).

Each kind's `Made.meta`:
- `RenderBatch` (several renditions of one original, made from shared
  decodes; edge.render.render_batch): {"decodes": how many decodes it made};
  each rendition comes before it through `emit` (edge.render), as a message
  with the rendition's body.
- `ProbeJob`: {"format", "width", "height", "frames", "orientation"}.
- `SnapshotJob`: a rendition's {"content_type", "format", "width", "height", "frames"}.
- `edge.upscale.job.UpscaleJob`: {"content_type", "note"}.
- `GpuBatch` (renditions of any sources, made together in the GPU worker;
  edge.gpu.render.render_batch): {"items": per job an ItemMade (its
  rendition's meta, its body's length) or an ItemFailed (its OssError),
  "gpu_seconds", "images"}; the bodies follow one another in `body`.

The messages of a batch before its answer (edge.batch_messages), one per
rendition (a `BatchItem`) and the order it runs in:
- `ItemMade(index, meta, length)`: job `index` of the batch made its
  rendition; `meta` is the rendition's {"content_type", "format", "width",
  "height", "frames"}, and its body is `length` bytes.
- `ItemFailed(index, error)`: job `index` failed with `error`, an OssError.
- `BatchOrder(indices)`: the order the batch will make its jobs in (cheapest
  first), so that when its worker dies the job it was making is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar

from edge.batch_messages import BatchItem, BatchOrder

if TYPE_CHECKING:
    from edge.config import Limits
    from edge.errors import OssError
    from edge.pipeline import Pipeline

# sends one message and its body before the answer (a batch's renditions and order)
Emit = Callable[[BatchItem | BatchOrder, bytes], None]


class JobFailure(Exception):
    """A job ended badly in a way its caller handles itself rather than answering an OSS error
    (an upscale task's failure is HTTP 200 with a negative state). `message` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Made:
    """What a job made: `meta` (its kind's facts, see above) and `body` (bytes, sent raw)."""

    meta: dict
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """A worker's last message for a job: what it made (`meta`; the body travels beside it) or the
    `error` it raised, and the worker's resident memory after it (`rss`, for recycling)."""

    rss: int
    meta: dict | None = None
    error: OssError | JobFailure | None = None


class Job:
    """A job kind: `name` labels its metrics; `run` executes in a worker process; `failure` is the
    InternalError's message when `run` raises what is neither an OssError nor a JobFailure (a bug)."""

    name: ClassVar[str]
    failure: ClassVar[str] = "processing failed; quote the request id"

    def run(self, data: bytes | None, emit: Emit) -> Made:
        """Do the job on `data` (the original's bytes, or None when it reads a path); raise an OssError
        or a JobFailure for what the caller should answer."""
        raise NotImplementedError


@dataclass(frozen=True)
class RenderJob:
    """A rendition to make: the pipeline, the limits, and the original (`path`, or bytes sent along).

    `inputs` are the other objects the pipeline reads (watermark images): (key, path or bytes).
    `original` names the original's version, (bucket, key, ETag): a worker reuses its decodes of it.
    `effort` is [compression] effort: how hard HEIC, AVIF and WebP encoders work (edge.codecs).
    """

    pipeline: Pipeline
    limits: Limits
    path: str | None = None
    inputs: tuple[tuple[str, str | bytes], ...] = ()
    original: tuple = ()
    effort: str = "fast"


@dataclass(frozen=True)
class RenderBatch(Job):
    """Several renditions of one original (the same `path` or bytes), made from shared decodes."""

    name: ClassVar[str] = "render"
    jobs: tuple[RenderJob, ...]

    def run(self, data: bytes | None, emit: Emit) -> Made:
        from edge.render import render_batch

        return Made(render_batch(self, data, emit))


@dataclass(frozen=True)
class ProbeJob(Job):
    """An original's format and size from its header, without decoding pixels (edge.probe)."""

    name: ClassVar[str] = "probe"
    limits: Limits
    path: str | None = None

    def run(self, data: bytes | None, emit: Emit) -> Made:
        from edge.probe import probe

        return Made(probe(self, data))


@dataclass(frozen=True)
class SnapshotJob(Job):
    """A frame of a video as an image: `pipeline` is one `video/snapshot` step (edge.video)."""

    name: ClassVar[str] = "snapshot"
    pipeline: Pipeline
    limits: Limits
    path: str | None = None

    def run(self, data: bytes | None, emit: Emit) -> Made:
        from edge.video import snapshot

        return Made(*snapshot(self, data))


@dataclass(frozen=True)
class GpuBatch(Job):
    """Renditions for the GPU worker (edge.gpu.worker), of any sources. `sizes[i]`: how many bytes of
    the data are job i's source, in order (0: the worker reads `jobs[i].path`)."""

    name: ClassVar[str] = "gpu-render"
    failure: ClassVar[str] = "the GPU failed on this batch; quote the request id"
    jobs: tuple[RenderJob, ...]
    sizes: tuple[int, ...]

    def run(self, data: bytes | None, emit: Emit) -> Made:
        from edge.gpu import render

        # One job's error is its item; a failure of the device or a library raises: the whole batch fails.
        return Made(*render.render_batch(render.renderer(), self, data or b""))
