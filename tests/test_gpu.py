"""The GPU path (edge.gpu): routing, the renderer id in the ETag, the probe, and the GPU worker itself.

Without a GPU the worker runs for real on nvImageCodec's CPU-only backend with
a Pillow resize (`cpu=True`, `[gpu] device = "cpu"`): its process, batching,
timeouts, crash handling and answers are the ones a GPU node runs.
"""

from __future__ import annotations

import asyncio
import json
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import plugins.operations  # noqa: F401
from conftest import ROOT, Server
from edge.config import Limits
from edge.errors import BadRequest, InternalError, ProcessTimeout, ServiceUnavailable
from edge.gpu.probe import probe
from edge.gpu.resample import CpuResampler, coefficients, reduce_numpy
from edge.gpu.routing import JpegHeader, cpu_reason, read_jpeg_header
from edge.metrics import Metrics
from edge.pipeline import Pipeline
from edge.renditions import rendition_digest, rendition_etag
from edge.jobs import RenderJob
from edge.sources import SourceObject

nvimgcodec = pytest.importorskip("nvidia.nvimgcodec", reason="the test extra installs nvidia-nvimgcodec-cu13")


def jpeg(size=(320, 240), **options) -> bytes:
    out = io.BytesIO()
    rng = np.random.default_rng(size[0])
    pixels = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=90, **options)
    return out.getvalue()


# -- routing ----------------------------------------------------------------------------------------

def test_header_of_baseline_progressive_grey_icc_and_not_jpeg():
    baseline = read_jpeg_header(jpeg())
    assert baseline == JpegHeader(320, 240, 8, 3, True, "4:2:0")
    assert read_jpeg_header(jpeg(subsampling=0)).sampling == "4:4:4"
    assert not read_jpeg_header(jpeg(progressive=True)).baseline
    assert read_jpeg_header(jpeg(icc_profile=b"\0" * 200)).icc
    grey = io.BytesIO()
    Image.new("L", (100, 100), 128).save(grey, "JPEG")
    assert read_jpeg_header(grey.getvalue()).components == 1
    assert read_jpeg_header(b"\x89PNG\r\n\x1a\n" + b"\0" * 100) is None
    assert read_jpeg_header(jpeg()[:40]) is None  # the frame header is not within the bytes given


@pytest.mark.parametrize("process, gpu", [
    ("image/resize,w_300", True),
    ("image/resize,m_fill,w_200,h_200/quality,q_80", True),
    ("image/crop,w_100,h_100,g_center/rotate,90/resize,p_50/format,jpg", True),
    ("image/auto-orient,0/resize,m_fixed,w_100,h_30", True),
    ("image/resize,m_pad,w_200,h_200", False),
    ("image/resize,w_300/format,webp", False),
    ("image/rotate,45", False),
    ("image/resize,w_300/interlace,1", False),
    ("image/blur,r_3,s_2", False),
])
def test_routing_by_the_pipeline(process, gpu):
    header = read_jpeg_header(jpeg())
    pipeline = Pipeline.parse(process)
    assert (cpu_reason(header, pipeline) is None) == gpu
    assert cpu_reason(header, pipeline) == cpu_reason(header, pipeline)  # pure: the same answer every time


@pytest.mark.parametrize("options", [{"progressive": True}, {"icc_profile": b"\0" * 64}])
def test_routing_by_the_source(options):
    reason = cpu_reason(read_jpeg_header(jpeg(**options)), Pipeline.parse("image/resize,w_100"))
    assert reason and ("baseline" in reason or "ICC" in reason)
    assert cpu_reason(None, Pipeline.parse("image/resize,w_100")) is not None
    assert "under 64" in cpu_reason(read_jpeg_header(jpeg((48, 48))), Pipeline.parse("image/resize,w_10"))


def test_renderer_id_is_in_the_digest_and_etag():
    obj = SourceObject("a.jpg", 10, '"v1"', 0.0, "image/jpeg")
    pipeline = Pipeline.parse("image/resize,w_300")
    cpu = rendition_digest("b", obj, pipeline)
    assert rendition_digest("b", obj, pipeline, (), "") == cpu  # the CPU path's ETags are as before
    gpu = rendition_digest("b", obj, pipeline, (), "gpu/1/NVIDIA H200/nvjpeg-hw/nvimgcodec-0.9.0")
    other = rendition_digest("b", obj, pipeline, (), "gpu/1/NVIDIA H100 80GB HBM3/nvjpeg-hw/nvimgcodec-0.9.0")
    assert len({cpu, gpu, other}) == 3
    assert rendition_etag(gpu) != rendition_etag(cpu)


# -- resampling ---------------------------------------------------------------------------------------

def test_coefficients_are_pillows():
    """Pillow's LANCZOS taps applied with its fixed-point arithmetic give Pillow's bytes: what the CUDA
    kernel computes (benchmarks/gpu.py checks the kernel itself against Pillow on a GPU)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (75, 100, 3), dtype=np.uint8)
    first, count, weights, _ = coefficients(100, 30)
    rows = np.zeros((75, 30, 3), np.int64)
    for x in range(30):
        rows[:, x] = (pixels[:, first[x]:first[x] + count[x]].astype(np.int64)
                      * weights[x, :count[x]][None, :, None]).sum(1)
    rows = np.clip((rows + (1 << 21)) >> 22, 0, 255)
    expected = np.asarray(Image.fromarray(pixels).resize((30, 75), Image.Resampling.LANCZOS))
    assert (rows == expected).all()
    assert (CpuResampler().resize(pixels, (30, 75)) == expected).all()


def test_block_average_rounds_and_keeps_partial_blocks():
    pixels = np.arange(5 * 6 * 1, dtype=np.uint8).reshape(5, 6, 1)
    reduced = reduce_numpy(pixels, 4, 4)
    assert reduced.shape == (2, 2, 1)
    assert reduced[0, 0, 0] == round(pixels[:4, :4].mean() + 1e-9)
    assert reduced[1, 1, 0] == round(pixels[4:, 4:].mean() + 1e-9)


# -- the probe ---------------------------------------------------------------------------------------

def _fake_library(folder: Path, body: str) -> None:
    package = folder / "nvidia" / "nvimgcodec"
    package.mkdir(parents=True)
    (folder / "nvidia" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(body)


@pytest.mark.parametrize("body, says", [
    ("raise ImportError('libcudart.so.13: cannot open shared object file')", "not installed"),
    ("raise RuntimeError('CUDA driver version is insufficient')", "driver version is insufficient"),
    ("import os\nos._exit(139)", "exited with status"),
])
def test_probe_answers_no_gpu_when_the_import_fails_or_raises(tmp_path, monkeypatch, body, says):
    _fake_library(tmp_path, body)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    found = probe.__wrapped__(cpu=False, timeout=60)
    assert not found.available and says in found.reason


def test_probe_without_a_gpu_here():
    found = probe.__wrapped__(cpu=False, timeout=60)
    assert not found.available and found.reason
    standin = probe(cpu=True)
    assert standin.available and standin.renderer.startswith("cpu-standin/")


# -- the GPU worker and its pool (CPU-only backend) -------------------------------------------------

FAULTY = '''
import os, sys, time
from edge.gpu import render, worker

real = render.render_batch

def faulty(renderer, batch, blob):
    for job in batch.jobs:
        if "crash" in (job.path or ""):
            os._exit(1)
        if "hang" in (job.path or ""):
            time.sleep(3600)
    return real(renderer, batch, blob)

render.render_batch = faulty
if "--fail-start" in sys.argv:
    os._exit(3)
worker.main()
'''


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gpu-sources")
    for name in ("a", "b", "crash", "hang"):
        (folder / f"{name}.jpg").write_bytes(jpeg((480, 360)))
    (folder / "broken.jpg").write_bytes(jpeg((480, 360))[:2000])
    return folder


def _job(process: str, path: Path) -> RenderJob:
    return RenderJob(Pipeline.parse(process), Limits(), str(path), (), ("t", path.name, "1"))


async def _pool(tmp_path, monkeypatch, **options):
    from edge.gpu.pool import GpuPool

    (tmp_path / "faulty_gpu_worker.py").write_text(FAULTY)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    pool = GpuPool(Metrics(), probe(cpu=True).renderer, cpu=True, module="faulty_gpu_worker", **options)
    await pool.start()
    return pool


def _count(pool, name: str, **labels) -> float:
    return pool.metrics.registry.get_sample_value(name, labels or None) or 0


async def _until_up(pool) -> None:
    for _ in range(600):
        if pool.up:
            return
        await asyncio.sleep(0.05)


async def test_batches_give_each_job_its_own_answer(tmp_path, monkeypatch, sources):
    pool = await _pool(tmp_path, monkeypatch, batch=8, batch_wait=0.2)
    try:
        jobs = [_job("image/resize,w_100", sources / "a.jpg"), _job("image/resize,w_200/rotate,90", sources / "b.jpg"),
                _job("image/crop,x_1000,y_10", sources / "a.jpg"), _job("image/resize,w_50", sources / "broken.jpg"),
                _job("image/crop,w_100,h_50,g_se/quality,Q_50", sources / "b.jpg")]
        together = await asyncio.gather(*(pool.render(job, None) for job in jobs), return_exceptions=True)
        assert _count(pool, "edge_gpu_batch_size_count") == 1  # one batch of five
        assert isinstance(together[2], BadRequest) and "outside" in together[2].message
        assert isinstance(together[3], BadRequest)
        sizes = {index: Image.open(io.BytesIO(together[index][1])).size for index in (0, 1, 4)}
        assert sizes == {0: (100, 75), 1: (150, 200), 4: (100, 50)}
        assert together[0][0]["content_type"] == "image/jpeg" and together[0][0]["width"] == 100
        for index in (0, 1, 4):  # alone, each gives the same bytes as inside the batch
            assert (await pool.render(jobs[index], None))[1] == together[index][1]
        assert _count(pool, "edge_gpu_jobs_total", outcome="ok") == 6
        assert _count(pool, "edge_gpu_batch_seconds_count") == 4
    finally:
        await pool.close()


def test_lanes_share_a_batch_in_order_and_give_one_lanes_bytes(sources):
    from edge.gpu.render import Lanes, render_batch
    from edge.jobs import GpuBatch

    jobs = [_job("image/resize,w_100", sources / "a.jpg"), _job("image/resize,w_50", sources / "broken.jpg"),
            _job("image/resize,w_200/rotate,90", sources / "b.jpg"), _job("image/crop,x_1000,y_10", sources / "a.jpg"),
            _job("image/crop,w_100,h_50,g_se/quality,Q_50", sources / "b.jpg")]
    batch = GpuBatch(tuple(jobs), (0,) * len(jobs))
    one, three = (render_batch(Lanes(count, cpu=True), batch, b"") for count in (1, 3))
    assert [item.status for item in three[0]["items"]] == ["ok", "error", "ok", "error", "ok"]
    made = [[item for item in result[0]["items"] if item.status == "ok"] for result in (one, three)]
    assert made[0] == made[1] and len(made[0]) == 3
    assert three[1] == one[1] and three[0]["images"] == one[0]["images"] == 4  # the broken one reached the decoder


async def test_a_crash_costs_only_its_own_job(tmp_path, monkeypatch, sources):
    pool = await _pool(tmp_path, monkeypatch, batch=8, batch_wait=0.2)
    try:
        first = pool.pid()
        jobs = [_job("image/resize,w_100", sources / name) for name in ("a.jpg", "crash.jpg", "b.jpg")]
        answers = await asyncio.gather(*(pool.render(job, None) for job in jobs), return_exceptions=True)
        assert isinstance(answers[1], InternalError)
        assert Image.open(io.BytesIO(answers[0][1])).size == (100, 75)
        assert Image.open(io.BytesIO(answers[2][1])).size == (100, 75)
        assert _count(pool, "edge_gpu_jobs_total", outcome="retried") == 3  # each once, alone
        assert _count(pool, "edge_gpu_jobs_total", outcome="crash") == 1
        assert pool.up and pool.pid() != first
    finally:
        await pool.close()


async def test_a_timeout_costs_only_its_own_job(tmp_path, monkeypatch, sources):
    pool = await _pool(tmp_path, monkeypatch, batch=8, batch_wait=0.2, job_timeout=3)
    try:
        jobs = [_job("image/resize,w_100", sources / "a.jpg"), _job("image/resize,w_100", sources / "hang.jpg")]
        answers = await asyncio.gather(*(pool.render(job, None) for job in jobs), return_exceptions=True)
        assert isinstance(answers[1], ProcessTimeout)
        assert Image.open(io.BytesIO(answers[0][1])).size == (100, 75)
        assert _count(pool, "edge_gpu_jobs_total", outcome="timeout") == 1
        await _until_up(pool)  # the stuck worker's replacement
        assert (await pool.render(jobs[0], None))[1] == answers[0][1]
    finally:
        await pool.close()


async def test_a_worker_that_dies_idle_is_replaced_and_503_meanwhile(tmp_path, monkeypatch, sources):
    pool = await _pool(tmp_path, monkeypatch)
    try:
        os.kill(pool.pid(), signal.SIGKILL)
        for _ in range(100):
            if not pool.up:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(ServiceUnavailable) as refused:
            await pool.render(_job("image/resize,w_100", sources / "a.jpg"), None)
        assert "Retry-After" in refused.value.headers
        await _until_up(pool)
        meta, _ = await pool.render(_job("image/resize,w_100", sources / "a.jpg"), None)
        assert meta["width"] == 100
    finally:
        await pool.close()


async def test_a_worker_that_cannot_start(tmp_path, monkeypatch, sources):
    from edge.gpu.pool import GpuPool

    (tmp_path / "faulty_gpu_worker.py").write_text(FAULTY)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    pool = GpuPool(Metrics(), "cpu-standin/x", cpu=True, module="faulty_gpu_worker", start_timeout=30)
    pool._arguments.append("--fail-start")
    with pytest.raises(Exception):
        await pool.start()
    try:
        with pytest.raises(ServiceUnavailable):
            await pool.render(_job("image/resize,w_100", sources / "a.jpg"), None)
    finally:
        await pool.close()


# -- edge serve with [gpu] ---------------------------------------------------------------------------

def _config(samples: Path, gpu: str) -> str:
    return f"""
[server]
port = {{port}}
workers = 1
[cache]
memory_bytes = 0
[gpu]
{gpu}
[buckets.test]
source = "file://{samples}"
"""


URLS = ("/test/photo.jpg?x-oss-process=image/resize,w_100", "/test/photo.jpg?x-oss-process=image/crop,w_50,h_50",
        "/test/quadrants.png?x-oss-process=image/resize,w_60", "/test/photo.jpg?x-oss-process=image/resize,w_80/format,webp")


def test_auto_without_a_gpu_serves_as_off(tmp_path, samples):
    auto = Server(tmp_path, _config(samples, 'enabled = "auto"'), name="auto")
    off = Server(tmp_path, _config(samples, 'enabled = "off"'), name="off")
    try:
        for url in URLS:
            a, b = auto.get(url), off.get(url)
            assert a.status_code == b.status_code == 200
            assert a.content == b.content and a.headers["ETag"] == b.headers["ETag"]
        assert len(auto.worker_pids()) == 1  # no GPU worker beside the CPU worker
    finally:
        auto.stop()
        off.stop()


def test_on_without_a_gpu_refuses_to_start(tmp_path, samples):
    config = tmp_path / "on.toml"
    config.write_text(_config(samples, 'enabled = "on"').replace("{port}", "0"))
    done = subprocess.run([sys.executable, "-m", "edge", "serve", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 2
    assert 'gpu.enabled: "on", but no usable GPU was found' in done.stderr


def test_gpu_renditions_have_their_own_etag_and_fallback(tmp_path, samples):
    """The GPU path on the CPU-only stand-in, in a real edge serve: routed renditions carry the renderer's
    ETag; while the GPU worker is down they are answered 503, or with fallback "cpu" made on the CPU under
    the CPU's ETag."""
    off = Server(tmp_path, _config(samples, 'enabled = "off"'), name="off")
    gpu = Server(tmp_path, _config(samples, 'enabled = "on"\ndevice = "cpu"'), name="gpu")
    fallback = Server(tmp_path, _config(samples, 'enabled = "on"\ndevice = "cpu"\nfallback = "cpu"'), name="fallback")
    try:
        routed, other = URLS[0], URLS[2]
        made, cpu = gpu.get(routed), off.get(routed)
        assert made.status_code == 200 and Image.open(io.BytesIO(made.content)).size == (100, 75)
        assert made.headers["ETag"] != cpu.headers["ETag"]
        assert gpu.get(other).headers["ETag"] == off.get(other).headers["ETag"]
        assert gpu.metric("edge_gpu_jobs_total", outcome="ok") == 1
        for server, expect in ((gpu, 503), (fallback, 200)):
            worker = _gpu_worker(server)
            os.kill(worker, signal.SIGKILL)
            time.sleep(0.3)  # a new worker takes over a second to start
            answer = server.get("/test/small.jpg?x-oss-process=image/resize,w_90")
            assert answer.status_code == expect, server.logs()
            if expect == 503:
                assert answer.headers["Retry-After"]
            else:
                assert answer.headers["ETag"] == off.get("/test/small.jpg?x-oss-process=image/resize,w_90").headers["ETag"]
    finally:
        for server in (off, gpu, fallback):
            server.stop()


def _gpu_worker(server: Server) -> int:
    for pid in server.worker_pids():
        if "edge.gpu.worker" in Path(f"/proc/{pid}/cmdline").read_text():
            return pid
    raise AssertionError("no GPU worker")


@pytest.mark.skipif(not probe(cpu=False).available, reason="needs an NVIDIA GPU with nvImageCodec and CuPy "
                                                             "(benchmarks/gpu.py measures and checks it there)")
def test_cuda_resampler_is_pillows():
    import cupy

    from edge.gpu.resample import CudaResampler

    pixels = np.random.default_rng(5).integers(0, 256, (375, 500, 3), dtype=np.uint8)
    made = cupy.asnumpy(CudaResampler().resize(cupy.asarray(pixels), (300, 225)))
    assert (made == CpuResampler().resize(pixels, (300, 225))).all()


@pytest.mark.slow
def test_the_gpu_benchmark_runs_end_to_end_dry_on_the_cpu_stand_in(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--dry", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["dry"] and result["renderer"].startswith("cpu-standin/")
    assert sorted(result["workloads"]) == ["W1", "W7"] and result["mixed_batches_same_bytes"]
    for cell in result["workloads"].values():
        for path in ("cpu", "gpu"):
            assert cell[path]["requests"] > 0 and cell[path]["same_bytes_alone_and_batched"], (path, cell)
