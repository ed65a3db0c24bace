"""The `edge` command: `edge serve [--config FILE] [--host H] [--port P] [--workers N]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from edge import config as config_module
from edge.config import Config, ConfigError

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge", description="Image-processing CDN origin (OSS x-oss-process).")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve HTTP (no --config: the embedded demo bucket)")
    serve.add_argument("--config", default=os.environ.get("EDGE_CONFIG"), help="TOML config file (or $EDGE_CONFIG)")
    serve.add_argument("--host", help="listen address (server.host)")
    serve.add_argument("--port", type=int, help="listen port (server.port)")
    serve.add_argument("--workers", type=int, help="worker processes (server.workers)")
    args = parser.parse_args(argv)
    try:
        config, demo = _load(args)
        from edge.app import make_app

        app = make_app(config)
        _warn_missing_fonts()
    except ConfigError as exc:
        print(f"edge: configuration error: {exc}", file=sys.stderr)
        return 2
    return _serve(app, config, demo)


def _warn_missing_fonts() -> None:
    from edge import fonts

    for problem in fonts.problems():  # not fatal: /readyz lists them too
        print(f"edge: warning: {problem}", file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> tuple[Config, bool]:
    """The config file (if any) with the environment and the command-line flags over it; with
    neither a file nor buckets from the environment, the embedded demo bucket (second item True)."""
    flags = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v is not None}
    overrides = {"server": flags}
    config = config_module.load(args.config, overrides=overrides)
    if args.config or config.buckets:
        return config, False
    from edge import demo

    folder = demo.ensure_demo_images(demo.demo_folder())
    return config_module.load(None, defaults=demo.settings(folder), overrides=overrides), True


def _serve(app, config: Config, demo: bool) -> int:
    from edge import serving
    from edge.app import AccessLog

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = config.server
    sock = serving.bind(server)
    if sock is None:
        return 2
    base = f"http://{server.host}:{server.port}"
    if demo:
        from edge.demo import banner, demo_folder

        print(banner(base, demo_folder(), sys.executable), flush=True)
    else:
        print(f"edge: serving {', '.join(config.buckets)} on {base}", flush=True)
    loop = _new_loop()
    try:
        loop.run_until_complete(serving.serve(
            app, sock, server, access_log_class=AccessLog,
            access_log=logging.getLogger("aiohttp.access") if server.access_log else None))
    finally:
        loop.close()
    return 0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    sys.exit(main())
