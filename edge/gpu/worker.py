"""The GPU worker process: `python -m edge.gpu.worker <fd> [--cpu] [--cuda-decoder] [--lanes N]`. Holds the GPU context.

One process per GPU, since each CUDA context costs 0.5-1.2 GB of device
memory. It is an edge.worker serving one more job kind, edge.jobs.GpuBatch,
through the same loop and answers; it says `("ready", pid, renderer id)` so
the server uses no renderer other than the one its probe found. Its batches
run in N lanes (edge.gpu.render.Lanes), and its threads sleep while they
wait for the GPU rather than spin. `--cpu` runs
nvImageCodec's CPU-only backend and a Pillow resize instead (tests,
`benchmarks/gpu.py --dry`).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys

from edge import logs
from edge.registry import load_inherited
from edge.worker import serve

log = logging.getLogger("edge.gpu")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    logs.setup_from_environment()  # the server's log_format (a failed job's traceback, as JSON or text)
    sock = socket.socket(fileno=int(argv[0]))
    load_inherited()  # the jobs' pipelines hold operations
    from edge.gpu import render
    from edge.gpu.probe import renderer_id

    cpu, hardware = "--cpu" in argv, "--cuda-decoder" not in argv
    lanes = int(argv[argv.index("--lanes") + 1]) if "--lanes" in argv else 1
    if not cpu and not render.wait_without_spinning():
        log.warning("CUDA would not let the GPU worker sleep while it waits: it spins a core instead")
    render.start_renderer(cpu=cpu, hardware=hardware, lanes=lanes)
    try:
        serve(sock, (renderer_id(cpu=cpu, hardware=hardware),))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass


if __name__ == "__main__":
    main()
