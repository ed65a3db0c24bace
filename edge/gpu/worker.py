"""The GPU worker process: `python -m edge.gpu.worker <fd> [--cpu] [--cuda-decoder]`. Holds the GPU context.

One process per GPU, since each CUDA context costs 0.5-1.2 GB of device
memory. It speaks edge.channel as edge.worker does: it says
`("ready", pid, renderer id)`, then answers each `("render", GpuBatch)` plus
the sources' bytes with `("ok", meta, rss)` plus the bodies
(edge.gpu.render.render_batch), or `("error", OssError, rss)` when the batch
failed as a whole. `--cpu` runs nvImageCodec's CPU-only backend and a Pillow
resize instead (tests, `benchmarks/gpu.py --dry`).
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from edge import channel, logs
from edge.jobs import Made
from edge.registry import load_inherited
from edge.worker import answer


def serve(sock: socket.socket, renderer, renderer_id: str) -> None:
    """Answer batches on `sock` until the server closes it."""
    from edge.gpu.render import render_batch

    channel.send_blocking(sock, ("ready", os.getpid(), renderer_id))
    while True:
        message = channel.recv_blocking(sock)
        if message is None:
            return
        (_, batch), blob = message
        # A failure of the device or a library fails the batch; the worker goes on.
        channel.send_blocking(sock, *answer(lambda: Made(*render_batch(renderer, batch, blob)),
                                            "the GPU failed on this batch; quote the request id"))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    logs.setup_from_environment()  # the server's log_format (a failed job's traceback, as JSON or text)
    sock = socket.socket(fileno=int(argv[0]))
    load_inherited()  # the jobs' pipelines hold operations
    from edge.gpu.probe import renderer_id
    from edge.gpu.render import Renderer

    cpu, hardware = "--cpu" in argv, "--cuda-decoder" not in argv
    renderer = Renderer(cpu=cpu, hardware=hardware)
    try:
        serve(sock, renderer, renderer_id(cpu=cpu, hardware=hardware))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass


if __name__ == "__main__":
    main()
