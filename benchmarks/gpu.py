"""W1 and W7 through the GPU worker against the CPU pool, on the same machine, in one run.

    python benchmarks/gpu.py [--seconds 10] [--out results/gpu.json]
    python benchmarks/gpu.py --dry     # end to end on the CPU: nvImageCodec's CPU backend, small sources
    python benchmarks/gpu.py --only W1 --lanes 1   # one workload, the GPU worker in one lane

Both paths are driven in this process, as edge drives them (no HTTP in
between): the CPU pool (edge.pool.WorkerPool, one worker per core, with
edge.batches as the server uses it) and the GPU pool (edge.gpu.pool.GpuPool,
one worker). For each workload and path it measures req/s with `--concurrency`
requests in flight, the host CPU ms per image (this process and its workers,
from /proc), p50/p99 of a single request alone, and the GPU's utilisation
(NVML, sampled every 100 ms; JPEG-engine utilisation where NVML reports it).
The host CPU is also split between this process (edge's server side) and the
workers. First it measures the ceiling of any W1 figure on this device: how
many of W1's sources the JPEG decoder alone decodes per second, in 1 and 2
threads. It checks that every URL gives the same bytes alone and inside mixed batches,
and compares each GPU rendition with the CPU's (SSIM of luma, bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import plugins.operations  # noqa: E402,F401
from corpus import photo  # noqa: E402
from edge.batches import SourceBatches  # noqa: E402
from edge.config import Limits  # noqa: E402
from edge.gpu.pool import GpuPool  # noqa: E402
from edge.gpu.probe import probe  # noqa: E402
from edge.metrics import Metrics  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.pool import WorkerPool  # noqa: E402
from edge.jobs import RenderJob  # noqa: E402
from jpeg import ssim  # noqa: E402
from proctree import TICKS_PER_S, cpu_ticks, tree  # noqa: E402

W7_WIDTHS = (320, 640, 960, 1280, 1600, 1920)


def _log(message: str) -> None:
    print(f"[gpu {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _save(args) -> None:
    seed, width, height, path = args
    photo(seed, width, height).save(path, "JPEG", quality=90)


def make_corpus(root: Path, size: tuple[int, int], w7_count: int) -> dict[str, list[tuple[str, str]]]:
    """W1: 8 copies of one photo to 300 wide, q80; W7: `w7_count` photos to 6 widths: (path, process) lists."""
    root.mkdir(parents=True, exist_ok=True)
    todo = [(1, *size, root / "w1.jpg")] + [(100 + i, *size, root / f"w7_{i:02d}.jpg") for i in range(w7_count)]
    missing = [t for t in todo if not t[3].exists()]
    with ProcessPoolExecutor() as executor:
        list(executor.map(_save, missing))
    for i in range(8):
        copy = root / f"w1_{i}.jpg"
        if not copy.exists():
            os.link(root / "w1.jpg", copy)
    scale = size[0] / 4000
    return {
        "W1": [(str(root / f"w1_{i}.jpg"), f"image/resize,w_{round(300 * scale)}/quality,q_80") for i in range(8)],
        "W7": [(str(root / f"w7_{i:02d}.jpg"), f"image/resize,w_{round(w * scale)}/quality,Q_80")
               for i in range(w7_count) for w in W7_WIDTHS],
    }


class GpuSampler:
    """GPU and JPEG-engine utilisation (%), sampled by NVML in a thread; empty where there is no NVML."""

    def __init__(self) -> None:
        self.gpu, self.jpg, self._stop = [], [], threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml, self._handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
            self.device = pynvml.nvmlDeviceGetName(self._handle)
        except Exception:
            self._nvml = None
            self.device = None

    def __enter__(self):
        if self._nvml:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        nvml = self._nvml
        while not self._stop.wait(0.1):
            self.gpu.append(nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            try:
                self.jpg.append(nvml.nvmlDeviceGetJpgUtilization(self._handle)[0])
            except Exception:
                pass

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def summary(self) -> dict:
        mean = lambda v: round(statistics.fmean(v), 1) if v else None  # noqa: E731
        return {"gpu_util_mean": mean(self.gpu), "gpu_util_max": max(self.gpu) if self.gpu else None,
                "jpg_util_mean": mean(self.jpg)}


class Paths:
    """The two ways to make a rendition: `cpu(job)` and `gpu(job)` give its bytes."""

    def __init__(self, args, renderer: str, hardware: bool) -> None:
        self.metrics = Metrics()
        self.cpu_pool = WorkerPool(size=args.workers, queue=4096, job_timeout=120, metrics=self.metrics,
                                   queue_timeout=600)
        self.batches = SourceBatches(self.cpu_pool)
        self.gpu_pool = GpuPool(self.metrics, renderer, batch=args.batch, batch_wait=args.batch_wait_ms / 1000,
                                job_timeout=120, queue=4096, cpu=args.dry, hardware=hardware, lanes=args.lanes,
                                module=args.worker_module)

    async def start(self) -> None:
        await asyncio.gather(self.cpu_pool.start(), self.gpu_pool.start())

    async def close(self) -> None:
        await asyncio.gather(self.cpu_pool.close(), self.gpu_pool.close())

    async def cpu(self, job: RenderJob) -> bytes:
        return (await self.batches.render(job, None))[1]

    async def gpu(self, job: RenderJob) -> bytes:
        return (await self.gpu_pool.render(job, None))[1]

    def roots(self, path: str) -> list[int]:
        pids = [os.getpid()]
        pids += self.cpu_pool.pids() if path == "cpu" else [self.gpu_pool.pid()]
        return pids


def _jobs(urls: list[tuple[str, str]]) -> list[RenderJob]:
    limits = Limits()
    return [RenderJob(Pipeline.parse(process), limits, path, (), ("bench", path, "1")) for path, process in urls]


def _thread_ticks(pid: int | None) -> dict[str, int]:
    """CPU ticks of the threads of `pid` by kind: "main" (its first thread), "lanes" (edge-gpu-lane) and
    "library" (the others: nvImageCodec's and CUDA's own threads)."""
    kinds = {"main": 0, "lanes": 0, "library": 0}
    for task in Path(f"/proc/{pid}/task").glob("*") if pid else ():
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        kind = "main" if task.name == str(pid) else \
            "lanes" if raw[raw.index("(") + 1:raw.rindex(")")] == "edge-gpu-lane" else "library"
        kinds[kind] += int(fields[11]) + int(fields[12])
    return kinds


def _cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """CPU seconds of (this process, the trees of the other `pids`: the workers)."""
    ticks = cpu_ticks(tree(pids))
    own = ticks.pop(os.getpid(), 0)
    return own / TICKS_PER_S, sum(ticks.values()) / TICKS_PER_S


async def throughput(make, jobs: list[RenderJob], concurrency: int, seconds: float, roots: list[int],
                     gpu_worker: int | None = None) -> dict:
    """Requests in flight: `concurrency`, over `jobs` in turn, for `seconds`; with `gpu_worker`, its
    CPU by kind of thread."""
    done, outputs, turn = 0, {}, iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            index = next(turn) % len(jobs)
            body = await make(jobs[index])
            outputs.setdefault(index, set()).add(body)
            done += 1

    cpu_before, threads_before, started = _cpu_seconds(roots), _thread_ticks(gpu_worker), time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed, cpu_after, threads_after = time.monotonic() - started, _cpu_seconds(roots), _thread_ticks(gpu_worker)
    server, workers = (1000 * (after - before) / max(done, 1) for before, after in zip(cpu_before, cpu_after))
    measured = {"rps": round(done / elapsed, 1), "cpu_ms_per_image": round(server + workers, 2),
                "server_cpu_ms_per_image": round(server, 2), "worker_cpu_ms_per_image": round(workers, 2)}
    if gpu_worker:
        measured["gpu_worker_cpu_ms_per_image"] = {
            kind: round(1000 * (threads_after[kind] - threads_before[kind]) / TICKS_PER_S / max(done, 1), 2)
            for kind in threads_after}
    return {**measured, "requests": done, "outputs": outputs}


async def latency(make, jobs: list[RenderJob], count: int) -> dict:
    """One request at a time: p50/p99 of `count` requests (ms)."""
    times = []
    for index in range(count):
        started = time.perf_counter()
        await make(jobs[index % len(jobs)])
        times.append(1000 * (time.perf_counter() - started))
    times.sort()
    return {"p50_ms": round(times[len(times) // 2], 2), "p99_ms": round(times[min(len(times) - 1,
                                                                                   int(len(times) * 0.99))], 2)}


def resampler_exact() -> bool:
    """Whether the CUDA resampler gives Pillow's bytes for the same input (resize) and the NumPy
    block average's (reduce), on random images of a few shapes."""
    import cupy

    from edge.gpu.resample import CpuResampler, CudaResampler

    gpu, cpu, rng, same = CudaResampler(), CpuResampler(), np.random.default_rng(7), True
    for (h, w, size) in ((375, 500, (300, 225)), (1500, 2000, (1920, 1440)), (251, 333, (97, 300)), (480, 640, (641, 481))):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        same &= bool((cupy.asnumpy(gpu.resize(cupy.asarray(pixels), size)) == cpu.resize(pixels, size)).all())
        same &= bool((cupy.asnumpy(gpu.reduce(cupy.asarray(pixels), 4, 4)) == cpu.reduce(pixels, 4, 4)).all())
    return same


def decoder_ceiling(path: str, seconds: float, cpu: bool, batch: int = 32) -> dict:
    """Images/s nvImageCodec's JPEG decoder alone sustains on `path`, in batches of `batch`, with 1 and 2
    threads (a Renderer each, as the GPU worker's lanes), and the JPEG engines' use meanwhile."""
    from edge.gpu.render import Renderer

    data = Path(path).read_bytes()
    result = {}
    for threads in (1, 2):
        renderers = [Renderer(cpu=cpu) for _ in range(threads)]

        def decode(renderer: Renderer, deadline: float) -> int:
            decoded = 0
            while time.monotonic() < deadline:
                stream = renderer.stream.ptr if renderer.stream is not None else 0
                images = renderer.decoder.decode([data] * batch, params=renderer.decode_params, cuda_stream=stream)
                if renderer.stream is not None:
                    renderer.stream.synchronize()
                decoded += sum(image is not None for image in images)
            return decoded

        with GpuSampler() as sampler, ThreadPoolExecutor(threads) as pool:
            started = time.monotonic()
            counts = list(pool.map(decode, renderers, [started + seconds] * threads))
            elapsed = time.monotonic() - started
        result[f"threads_{threads}"] = {"images_per_s": round(sum(counts) / elapsed, 1), **sampler.summary()}
    return result


def _luma(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("L"), dtype=np.float64)


async def run(args) -> dict:
    found = probe(cpu=args.dry)
    if not found.available:
        raise SystemExit(f"no GPU path: {found.reason}")
    _log(f"renderer {found.renderer}")
    exact = None if args.dry else resampler_exact()
    size = (1600, 1200) if args.dry else (4000, 3000)
    workloads = make_corpus(Path(args.corpus), size, 3 if args.dry else 20)
    paths = Paths(args, found.renderer, found.hardware)
    result = {"renderer": found.renderer, "dry": args.dry, "workers": args.workers, "batch": args.batch,
              "batch_wait_ms": args.batch_wait_ms, "lanes": args.lanes, "concurrency": args.concurrency,
              "cuda_resampler_equals_pillow": exact, "workloads": {}}
    if args.ceiling_seconds > 0:
        result["w1_decoder_ceiling"] = decoder_ceiling(workloads["W1"][0][0], args.ceiling_seconds, cpu=args.dry,
                                                       batch=4 if args.dry else 32)
        _log(f"W1 decoder ceiling: {result['w1_decoder_ceiling']}")
    await paths.start()
    try:
        for name, urls in workloads.items():
            if name not in args.only.split(","):
                continue
            jobs = _jobs(urls)
            cell = result["workloads"][name] = {"urls": len(jobs)}
            alone_gpu = [await paths.gpu(job) for job in jobs]  # each in a batch of its own
            alone_cpu = [await paths.cpu(job) for job in jobs]
            scores = [ssim(_luma(c), _luma(g)) for c, g in zip(alone_cpu, alone_gpu)]
            ratios = [len(g) / len(c) for c, g in zip(alone_cpu, alone_gpu)]
            cell["ssim_vs_cpu"] = {"min": round(min(scores), 4), "mean": round(statistics.fmean(scores), 4)}
            cell["bytes_vs_cpu"] = {"min": round(min(ratios), 4), "max": round(max(ratios), 4),
                                    "mean": round(statistics.fmean(ratios), 4)}
            for path, make in (("cpu", paths.cpu), ("gpu", paths.gpu)):
                if path not in args.paths.split(","):
                    continue
                await throughput(make, jobs, args.concurrency, min(2.0, args.seconds), paths.roots(path))  # warm
                with GpuSampler() as sampler:
                    measured = await throughput(make, jobs, args.concurrency, args.seconds, paths.roots(path),
                                                paths.gpu_pool.pid() if path == "gpu" else None)
                outputs = measured.pop("outputs")
                alone = alone_gpu if path == "gpu" else alone_cpu
                measured["same_bytes_alone_and_batched"] = all(
                    bodies == {alone[index]} for index, bodies in outputs.items())
                measured.update(await latency(make, jobs, args.latency_requests))
                measured.update(sampler.summary())
                cell[path] = measured
                _log(f"{name} {path}: {measured}")
            if "cpu" not in cell or "gpu" not in cell:
                continue
            cell["gpu_vs_cpu"] = {
                "rps": round(cell["gpu"]["rps"] / cell["cpu"]["rps"], 2),
                "cpu_ms_per_image": round(cell["gpu"]["cpu_ms_per_image"] / cell["cpu"]["cpu_ms_per_image"], 3),
                "p99": round(cell["gpu"]["p99_ms"] / cell["cpu"]["p99_ms"], 2)}
        # Mixed batches: W1 and W7 URLs together, twice, against each URL made alone.
        jobs = _jobs(workloads["W1"] + workloads["W7"])
        alone = [await paths.gpu(job) for job in jobs]
        mixed = []
        for _ in range(2):
            mixed.append(await asyncio.gather(*(paths.gpu(job) for job in jobs[::-1])))
        result["mixed_batches_same_bytes"] = all(list(run_[::-1]) == alone for run_ in mixed)
        registry = paths.metrics.registry
        batches = registry.get_sample_value("edge_gpu_batch_size_count") or 0
        result["gpu_batches"] = {
            "count": int(batches),
            "mean_size": round((registry.get_sample_value("edge_gpu_batch_size_sum") or 0) / max(batches, 1), 1),
            "mean_gpu_ms": round(1000 * (registry.get_sample_value("edge_gpu_batch_seconds_sum") or 0)
                                 / max(batches, 1), 2)}
    finally:
        await paths.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry", action="store_true", help="the CPU-only stand-in, small sources, short runs")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="CPU pool workers")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=3.0)
    parser.add_argument("--lanes", type=int, default=2, help="threads of the GPU worker sharing a batch")
    parser.add_argument("--only", default="W1,W7", help="the workloads to measure (mixed batches use both)")
    parser.add_argument("--paths", default="cpu,gpu", help="the paths to measure (ratios need both)")
    parser.add_argument("--ceiling-seconds", type=float, default=4.0, help="0: do not measure the decoder's ceiling")
    parser.add_argument("--worker-module", default="edge.gpu.worker", help="the GPU worker's module (a variant's)")
    parser.add_argument("--latency-requests", type=int, default=100)
    parser.add_argument("--corpus", default=str(BENCH / ".scratch" / "gpu-corpus"))
    parser.add_argument("--out", default=str(BENCH / "results" / "gpu.json"))
    args = parser.parse_args()
    if args.dry:
        args.seconds, args.latency_requests, args.concurrency = min(args.seconds, 2.0), 10, min(args.concurrency, 8)
        args.ceiling_seconds = min(args.ceiling_seconds, 1.0)
        args.corpus = args.corpus + "-dry"
    result = asyncio.run(run(args))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    ok = result["mixed_batches_same_bytes"] and all(
        cell[path]["same_bytes_alone_and_batched"] for cell in result["workloads"].values() for path in ("cpu", "gpu")
        if path in cell)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
