"""Is there a GPU the GPU path can use? Asked once at start-up, in a subprocess: `python -m edge.gpu.probe`.

A subprocess, because importing CUDA libraries may crash or hang, and a
CUDA context in the server process would cost GPU memory for nothing. The
child makes the whole path once (decode a small JPEG, resize, encode) and
prints `{"renderer": ..., "hardware": ...}`; anything else (the import failed
or raised, no device, a timeout, a crash) means "no GPU", with the reason.

The renderer id names what decides the GPU path's bytes: its render version,
the device model, the decoder backend (the hardware JPEG decoder or CUDA) and
the versions of nvImageCodec, nvJPEG, CuPy and the CUDA runtime. It is part of
the digest and ETag of every rendition the GPU makes.
"""

from __future__ import annotations

import functools
import importlib.metadata
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent.parent)


@dataclass(frozen=True)
class Probe:
    """The answer: `renderer` is the renderer id when a GPU is usable ("" when not, then `reason` says why);
    `hardware`: the device has a hardware JPEG decoder, which the worker then uses."""

    renderer: str = ""
    hardware: bool = False
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(self.renderer)


@functools.lru_cache(maxsize=8)
def probe(cpu: bool = False, timeout: float = 60.0) -> Probe:
    """Run the probe in a subprocess (once per process and arguments: a GPU does not come and go).
    `cpu`: probe the CPU-only stand-in instead (tests and dry runs). Never raises."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PROJECT_ROOT, env.get("PYTHONPATH")]))
    command = [sys.executable, "-P", "-m", "edge.gpu.probe"] + (["--cpu"] if cpu else [])  # -P: edge.pool
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Probe(reason=f"the GPU probe did not answer within {timeout:g} s")
    except OSError as exc:
        return Probe(reason=f"the GPU probe could not start ({exc.strerror})")
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if done.returncode == 0 and answer.get("renderer"):
        return Probe(answer["renderer"], bool(answer.get("hardware")))
    reason = answer.get("error") or f"the GPU probe exited with status {done.returncode}"
    return Probe(reason=reason)


def _version(*names: str) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "system"


def renderer_id(cpu: bool = False, hardware: bool = True) -> str:
    """The id of the renderer this process would run (import nvImageCodec, and CuPy unless `cpu`)."""
    from nvidia import nvimgcodec

    from edge.gpu.render import GPU_RENDER_VERSION

    if cpu:
        import PIL

        return f"cpu-standin/{GPU_RENDER_VERSION}/nvimgcodec-{nvimgcodec.__version__}/pillow-{PIL.__version__}"
    import cupy

    properties = cupy.cuda.runtime.getDeviceProperties(0)
    device = properties["name"].decode() if isinstance(properties["name"], bytes) else str(properties["name"])
    return "/".join([
        "gpu", GPU_RENDER_VERSION, device.replace("/", " "), "nvjpeg-hw" if hardware else "nvjpeg-cuda",
        f"nvimgcodec-{nvimgcodec.__version__}",
        f"nvjpeg-{_version('nvidia-nvjpeg', 'nvidia-nvjpeg-cu13', 'nvidia-nvjpeg-cu12')}",
        f"cupy-{cupy.__version__}", f"cudart-{cupy.cuda.runtime.runtimeGetVersion()}"])


def _check(cpu: bool) -> dict:
    """Make one small rendition through the whole path; the answer to print."""
    from PIL import Image

    from edge.config import Limits
    from edge.registry import load_inherited
    from edge.gpu.render import Renderer, render_batch
    from edge.pipeline import Pipeline
    from edge.jobs import GpuBatch, RenderJob

    load_inherited()
    sample = io.BytesIO()
    Image.new("RGB", (256, 192), (40, 120, 200)).save(sample, "JPEG", quality=90)
    job = RenderJob(Pipeline.parse("image/resize,w_100"), Limits())
    batch = GpuBatch((job,), (len(sample.getvalue()),))
    hardware = not cpu
    failures = []
    for attempt in ((True, False) if hardware else (False,)):
        try:
            renderer = Renderer(cpu=cpu, hardware=attempt)
            meta, body = render_batch(renderer, batch, sample.getvalue())
        except ImportError:
            raise
        except Exception as exc:  # e.g. no hardware JPEG decoder on this device: try CUDA's
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        item = meta["items"][0]
        if item.status == "ok" and body[:2] == b"\xff\xd8":
            return {"renderer": renderer_id(cpu=cpu, hardware=attempt), "hardware": attempt}
        failures.append(f"the test rendition failed: {item.error}")
    return {"error": "the GPU path could not make a test rendition: " + "; ".join(failures)}


def main() -> int:
    cpu = "--cpu" in sys.argv[1:]
    try:
        answer = _check(cpu)
    except ImportError as exc:
        answer = {"error": f"the GPU libraries are not installed (pip install 'edge-origin[gpu]'): {exc}"}
    except Exception as exc:  # no device, no driver, a library that raised: no GPU
        answer = {"error": f"no usable GPU: {type(exc).__name__}: {exc}"}
    print(json.dumps(answer), flush=True)
    return 0 if "renderer" in answer else 1


if __name__ == "__main__":
    sys.exit(main())
