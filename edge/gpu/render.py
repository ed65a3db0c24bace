"""Make a batch of renditions on the GPU: decode all, then per image resize, crop, rotate, then encode all.

Runs in the GPU worker (edge.gpu.worker). Each job is planned on the host
first, with the CPU path's own rules (edge.render, what each operation's
`on_gpu` says, edge.codecs.effective_quality), so sizes, limits, errors and quality
are the CPU's; then the pixels go through nvImageCodec and edge.gpu.resample.
With `cpu=True` the same code runs on nvImageCodec's CPU-only backend and a
Pillow resize: the stand-in used by the tests and `benchmarks/gpu.py --dry`.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from edge import truncation
from edge.batch_messages import BatchItem, ItemFailed, ItemMade
from edge.codecs import effective_quality, estimate_jpeg_quality, output_format
from edge.errors import BadRequest, ImageTooLarge, OssError
from edge.frames import Frames, RenderContext
from edge.gpu.resample import draft_scale, gap_factors
from edge.images import open_image
from edge.pipeline import GpuCut, GpuScale, GpuSetting, GpuStep, GpuTurn
from edge.render import _SWAPS_SIDES, _check_source_size, _exif, _orientation, source_bytes

if TYPE_CHECKING:
    from edge.jobs import GpuBatch, RenderJob

GPU_RENDER_VERSION = "1"  # bump when a change alters the GPU path's bytes for the same URL


@dataclass
class Plan:
    """What to do to one decoded image: `steps` of ("reduce", fx, fy), ("resize", (w, h), box),
    ("crop", (left, top, right, bottom)), ("orient", 1-8) in order; then encode at `quality`."""

    raw: bytes
    quality: int
    steps: list = field(default_factory=list)
    size: tuple[int, int] = (0, 0)


def plan(job: RenderJob, raw: bytes) -> Plan:
    """The steps for `job` on the JPEG `raw`, reading its header only. Raises the OssError the CPU
    path would (limits, a crop outside the image, a result over the target limits)."""
    corrupt = partial(BadRequest, "the source image is corrupt or truncated")
    im = open_image(raw, corrupt, corrupt, formats=("JPEG",))
    limits = job.limits
    _check_source_size(im, limits)
    truncation.check(im, raw)
    exif = _exif(im)
    ctx = RenderContext(limits=limits, source_format="JPEG",
                        source_quality=estimate_jpeg_quality(getattr(im, "quantization", None)),
                        source_bytes=len(raw), source_size=im.size, source_exif=exif)
    pixel_steps = job.pipeline.pixel_steps()
    for step in job.pipeline.steps:
        if step.stage != "pixels":
            step.apply(Frames([]), ctx)
    if output_format(ctx).name != "jpg":
        raise BadRequest("the GPU path writes JPEG only")  # routing sends no other job here
    result = Plan(raw, effective_quality(ctx))
    size = im.size
    orientation = _orientation(exif) if ctx.auto_orient else 1
    if pixel_steps:
        size = _draft(result, size, orientation, pixel_steps[0], ctx)
    if orientation != 1:
        result.steps.append(("orient", orientation))
        if orientation in _SWAPS_SIDES:
            size = (size[1], size[0])
    for step in pixel_steps:
        size = _add(result, size, step.on_gpu(), ctx)
    result.size = size
    return result


def _draft(result: Plan, size, orientation, first_step, ctx) -> tuple[int, int]:
    """edge.render._draft, with the block average standing in for libjpeg's DCT scaling."""
    upright = (size[1], size[0]) if orientation in _SWAPS_SIDES else size
    wanted = first_step.draft_size(*upright, ctx)
    if wanted is None:
        return size
    if orientation in _SWAPS_SIDES:
        wanted = (wanted[1], wanted[0])
    scale = draft_scale(size, wanted)
    if scale == 1:
        return size
    result.steps.append(("reduce", scale, scale))
    ctx.undrafted_size = upright
    return (-(-size[0] // scale), -(-size[1] // scale))


def _add(result: Plan, size, step: GpuStep | str, ctx) -> tuple[int, int]:
    """Add to `result` the plan steps of one operation's GPU step (Operation.on_gpu); the size after them."""
    if isinstance(step, GpuScale):
        return _scale(result, size, step, ctx)
    if isinstance(step, GpuCut):
        left, top, right, bottom = step.box(*size)
        result.steps.append(("crop", (left, top, right, bottom)))
        return (right - left, bottom - top)
    if isinstance(step, GpuTurn):
        side = ctx.limits.rotate_side
        if size[0] > side or size[1] > side:
            raise ImageTooLarge(f"rotate: the image is {size[0]}x{size[1]}; rotation takes sides of at most {side}")
        result.steps.append(("orient", step.orientation))
        return (size[1], size[0]) if step.orientation in _SWAPS_SIDES else size
    if isinstance(step, GpuSetting):
        return size
    raise BadRequest(f"the GPU path cannot make this rendition: {step}")  # routing sends no such job here


def _scale(result: Plan, size, step: GpuScale, ctx) -> tuple[int, int]:
    """A resize as the CPU applies it (edge's resize operation), as steps."""
    plan_ = step.plan(*(ctx.pop_undrafted_size() or size))
    if plan_ is None:
        return size
    scaled, final = plan_
    ctx.check_target(*scaled, what="resize")
    ctx.check_target(*final, what="resize")
    if size != scaled:
        fx, fy = gap_factors(size, scaled)  # Pillow's reducing_gap=3.0
        box = None
        if fx > 1 or fy > 1:
            result.steps.append(("reduce", fx, fy))
            box = (0.0, 0.0, size[0] / fx, size[1] / fy)
        result.steps.append(("resize", scaled, box))
    if scaled != final:  # fill: the centre of the scaled image
        left, top = (scaled[0] - final[0]) // 2, (scaled[1] - final[1]) // 2
        result.steps.append(("crop", (left, top, left + final[0], top + final[1])))
        return final
    return scaled



def orient(pixels, orientation: int):
    """`pixels` (HxWxC, NumPy or CuPy) turned as EXIF `orientation` says (edge.render._UPRIGHT)."""
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 5:
        return pixels.transpose(1, 0, 2)
    if orientation == 6:
        return pixels.transpose(1, 0, 2)[:, ::-1]
    if orientation == 7:
        return pixels[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return pixels.transpose(1, 0, 2)[::-1]
    return pixels


class Renderer:
    """nvImageCodec's decoder and encoder and a resampler, on the GPU or (`cpu`) on the CPU only: one lane.

    The decoder backend is fixed when the worker starts (the hardware JPEG decoder where the device
    has one, else CUDA), never chosen by load, so the same URL gives the same bytes. On a GPU the lane
    has its own CUDA stream, so lanes in threads overlap (see Lanes)."""

    def __init__(self, cpu: bool = False, hardware: bool = True) -> None:
        from nvidia import nvimgcodec as nv

        self.nv, self.cpu = nv, cpu
        if cpu:
            import numpy

            from edge.gpu.resample import CpuResampler

            device, decode_backend, encode_backend = nv.NVIMGCODEC_DEVICE_CPU_ONLY, nv.BackendKind.CPU_ONLY, \
                nv.BackendKind.CPU_ONLY
            self.xp, self.resampler, self.stream = numpy, CpuResampler(), None
        else:
            import cupy

            from edge.gpu.resample import CudaResampler

            device, encode_backend = 0, None
            decode_backend = nv.BackendKind.HW_GPU_ONLY if hardware else nv.BackendKind.GPU_ONLY
            self.xp, self.resampler = cupy, CudaResampler()
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self.decoder = nv.Decoder(device_id=device, backends=[nv.Backend(decode_backend)])
        # On a GPU, nvImageCodec's own choice of encoder (nvJPEG's CUDA encoder): it refused to
        # create one restricted to GPU_ONLY (H200, nvImageCodec 0.9).
        self.encoder = nv.Encoder(device_id=device, backends=[nv.Backend(encode_backend)] if cpu else None)
        self.decode_params = nv.DecodeParams(apply_exif_orientation=False, color_spec=nv.ColorSpec.SRGB)
        self._encode_params: dict[int, object] = {}

    def encode_params(self, quality: int):
        nv = self.nv
        if quality not in self._encode_params:
            self._encode_params[quality] = nv.EncodeParams(
                quality_type=nv.QualityType.QUALITY, quality_value=quality,
                chroma_subsampling=nv.ChromaSubsampling.CSS_420,
                jpeg_encode_params=nv.JpegEncodeParams(progressive=False, optimized_huffman=True))
        return self._encode_params[quality]

    def make(self, sources: list[tuple[RenderJob, bytes | None]]) -> list[tuple[Plan | None, bytes | OssError]]:
        """Plan and make each (job, its source bytes or None: read its path): (the plan, the JPEG) or
        (None or the plan, the error of that job alone)."""
        plans: list[Plan | OssError] = []
        for job, data in sources:
            try:
                plans.append(plan(job, source_bytes(job, data)))
            except OssError as exc:
                plans.append(exc)
            except OSError as exc:
                plans.append(BadRequest(f"the source could not be read ({exc.strerror})"))
        ready = [p for p in plans if isinstance(p, Plan)]
        made = iter(self.run(ready) if ready else [])
        return [(p, next(made)) if isinstance(p, Plan) else (None, p) for p in plans]

    def run(self, plans: list[Plan]) -> list[bytes | OssError]:
        """Encoded JPEG bytes per plan, or the error of that plan alone."""
        if self.stream is None:
            return self._run(plans, 0)
        with self.stream:  # CuPy's kernels on this lane's stream, as nvImageCodec's calls are
            return self._run(plans, self.stream.ptr)

    def _run(self, plans: list[Plan], stream: int) -> list[bytes | OssError]:
        decoded = self.decoder.decode([p.raw for p in plans], params=self.decode_params, cuda_stream=stream)
        results: list[bytes | OssError] = [b""] * len(plans)
        pending: dict[int, list[tuple[int, object]]] = {}
        for index, (p, image) in enumerate(zip(plans, decoded)):
            if image is None:
                results[index] = BadRequest("the source image is corrupt or truncated (the JPEG decoder refused it)")
                continue
            pixels = self.xp.asarray(image.cpu()) if self.cpu else self.xp.asarray(image)
            for step in p.steps:
                pixels = self._apply(pixels, step)
            pending.setdefault(p.quality, []).append((index, self.xp.ascontiguousarray(pixels)))
        for quality, items in pending.items():
            streams = self.encoder.encode([pixels for _, pixels in items], "jpeg", params=self.encode_params(quality),
                                          cuda_stream=stream)
            for (index, _), code in zip(items, streams):
                results[index] = bytes(code) if code is not None else \
                    BadRequest("the JPEG encoder refused this image")
        return results

    def _apply(self, pixels, step):
        kind = step[0]
        if kind == "reduce":
            return self.resampler.reduce(self.xp.ascontiguousarray(pixels), step[1], step[2])
        if kind == "resize":
            return self.resampler.resize(self.xp.ascontiguousarray(pixels), step[1], step[2])
        if kind == "crop":
            left, top, right, bottom = step[1]
            return pixels[top:bottom, left:right]
        return orient(pixels, step[1])


class Lanes:
    """`count` Renderers, each in a thread of its own, sharing a batch: job i goes to lane i % count.

    One lane at a time leaves the JPEG engines idle while it plans, resizes, encodes and copies on the
    host; with two or more, one lane's host work overlaps another's decode (nvImageCodec and CUDA
    let go of the GIL while they wait). Every lane has the same backend and options, so a job's bytes
    do not depend on its lane."""

    def __init__(self, count: int = 2, cpu: bool = False, hardware: bool = True) -> None:
        self.renderers = [Renderer(cpu=cpu, hardware=hardware) for _ in range(count)]
        self._threads = ThreadPoolExecutor(count, thread_name_prefix="gpu-lane", initializer=_name_thread) \
            if count > 1 else None

    def make(self, sources: list[tuple[RenderJob, bytes | None]]) -> list[tuple[Plan | None, bytes | OssError]]:
        """Renderer.make over all lanes, in the order of `sources`."""
        if self._threads is None:
            return self.renderers[0].make(sources)
        count = len(self.renderers)
        shares = [sources[lane::count] for lane in range(count)]
        made = list(self._threads.map(lambda renderer, share: renderer.make(share) if share else [],
                                      self.renderers, shares))
        results: list = [None] * len(sources)
        for lane, share in enumerate(made):
            results[lane::count] = share
        return results


def _name_thread() -> None:
    """Name this thread "edge-gpu-lane" for the system (top -H, /proc/PID/task), not only for Python."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, b"edge-gpu-lane")


_PR_SET_NAME = 15


def wait_without_spinning() -> bool:
    """Make CUDA put a waiting thread to sleep instead of spinning on a core.

    With one CUDA context and more cores than contexts, CUDA's default is to spin while the host
    waits for the device: the GPU worker would burn a core for every batch the JPEG engines decode.
    Sets the primary context's flags through the driver, before anything creates the context.
    False where the driver library is missing or refuses (then CUDA's default stays)."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    device = ctypes.c_int()
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGet(ctypes.byref(device), 0) != 0:
        return False
    set_flags = getattr(cuda, "cuDevicePrimaryCtxSetFlags_v2", None) or cuda.cuDevicePrimaryCtxSetFlags
    return set_flags(device, _CU_CTX_SCHED_BLOCKING_SYNC) == 0


_CU_CTX_SCHED_BLOCKING_SYNC = 0x04
_lanes: Lanes | None = None  # this GPU worker's, made once as it starts (edge.gpu.worker)


def start_renderer(cpu: bool = False, hardware: bool = True, lanes: int = 1) -> None:
    """Make this process's Lanes (see Lanes), which every GpuBatch it runs then uses."""
    global _lanes
    _lanes = Lanes(lanes, cpu=cpu, hardware=hardware)


def renderer() -> Lanes:
    """This process's Lanes; RuntimeError when it is no GPU worker (start_renderer not called)."""
    if _lanes is None:
        raise RuntimeError("this process is not a GPU worker: no renderer was started")
    return _lanes


def render_batch(renderer: Lanes | Renderer, batch: GpuBatch, blob: bytes) -> tuple[dict, bytes]:
    """Make every job of `batch`: ({"items": an ItemMade or ItemFailed per job, in order, "gpu_seconds":
    time from the first plan to the last encoded byte, "images": how many reached the GPU}, the bodies in
    order). One job's error is its own item; an error of the GPU itself raises (the whole batch fails)."""
    sources, offset = [], 0
    for job, size in zip(batch.jobs, batch.sizes):
        sources.append((job, blob[offset:offset + size] if size else None))
        offset += size
    started = time.perf_counter()
    made = renderer.make(sources)
    gpu_seconds = time.perf_counter() - started
    items: list[BatchItem] = []
    bodies = []
    for index, (p, result) in enumerate(made):
        if isinstance(result, OssError):
            items.append(ItemFailed(index, result))
            continue
        items.append(ItemMade(index, {"content_type": "image/jpeg", "format": "jpg", "width": p.size[0],
                                      "height": p.size[1], "frames": 1}, len(result)))
        bodies.append(result)
    return {"items": items, "gpu_seconds": gpu_seconds, "images": sum(p is not None for p, _ in made)}, \
        b"".join(bodies)
