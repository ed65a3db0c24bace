"""The `edge` command: `edge serve [--config FILE] [--host H] [--port P] [--workers N]`, `edge sign`
(a signed URL for a bucket's access key) and `edge check-config FILE` (validate, reach each source)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from urllib.parse import urlsplit

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
    sign = commands.add_parser("sign", help="print a signed URL (V1 or V4) for a bucket's access key, as oss2 makes it")
    sign.add_argument("bucket")
    sign.add_argument("key", help="the object key, e.g. photo.jpg")
    sign.add_argument("--process", default="", help="an x-oss-process value to sign into the URL")
    sign.add_argument("--expires", type=int, default=3600, help="seconds the URL stays valid (default 3600)")
    sign.add_argument("--version", choices=("v1", "v4"), default="v4", help="signature version (default v4)")
    sign.add_argument("--key-id", help="the access key id (default: the bucket's only one)")
    sign.add_argument("--region", default="cn-hangzhou", help="V4 region (default cn-hangzhou)")
    sign.add_argument("--endpoint", help="base URL (default: http://server.host:server.port)")
    sign.add_argument("--config", default=os.environ.get("EDGE_CONFIG"), help="TOML config file (or $EDGE_CONFIG)")
    check = commands.add_parser("check-config", help="validate a config file and reach each bucket's source")
    check.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "sign":
        return _sign(args)
    if args.command == "check-config":
        return _check_config(args.file)
    try:
        config, demo = _load(args)
    except ConfigError as exc:
        print(f"edge: configuration error: {exc}", file=sys.stderr)
        return 2
    from edge import logs, serving
    from edge.app import make_app

    logs.setup(config.server.log_format)
    # A busy port is one line before anything else is said or started (the GPU probe, the workers).
    sock = serving.bind(config.server)
    if sock is None:
        return 2
    try:
        app = make_app(config)
        _warn_missing_fonts()
    except ConfigError as exc:
        sock.close()
        print(f"edge: configuration error: {exc}", file=sys.stderr)
        return 2
    return _serve(app, sock, config, demo)


def _sign(args: argparse.Namespace) -> int:
    """Print the signed URL; 2 for a configuration error or a key the bucket does not have."""
    from edge import signing

    try:
        args.host = args.port = args.workers = None
        config, _ = _load(args)
        bucket = config.buckets.get(args.bucket)
        if bucket is None:
            raise ConfigError(f"no bucket {args.bucket!r} (buckets: {', '.join(config.buckets) or 'none'})")
        key_id = args.key_id or (next(iter(bucket.access_keys)) if len(bucket.access_keys) == 1 else None)
        if key_id not in bucket.access_keys:
            raise ConfigError(f"buckets.{bucket.name}.access_keys: give --key-id, one of: "
                              f"{', '.join(bucket.access_keys) or 'none configured'}")
        endpoint = args.endpoint or _base_url(config)
        print(signing.sign_url(endpoint, bucket.name, args.key, key_id, bucket.access_keys[key_id], args.expires,
                               version=args.version, process=args.process, region=args.region,
                               cname=bucket.is_bound_to(urlsplit(endpoint).netloc)))
    except (ConfigError, ValueError) as exc:
        print(f"edge: {exc}", file=sys.stderr)
        return 2
    return 0


def _base_url(config: Config) -> str:
    host = config.server.host
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    return f"http://{host}:{config.server.port}"


def _check_config(path: str) -> int:
    """Validate `path` as `edge serve` would at start-up, then reach each bucket's source; print one
    line per bucket. 0: all good; 1: a source cannot be reached; 2: the config is invalid."""
    try:
        config = config_module.load(path)
        from edge.app import make_app
        from edge.origin import ORIGIN

        origin = make_app(config)[ORIGIN]
    except ConfigError as exc:
        print(f"edge: configuration error: {exc}", file=sys.stderr)
        return 2
    problems = asyncio.run(_reach_sources(origin))
    for name in config.buckets:
        print(f"bucket {name}: {problems.get(name) or 'ok'} ({config.buckets[name].source})")
    print(f"edge: {path}: {'source problems' if problems else 'ok'}")
    return 1 if problems else 0


async def _reach_sources(origin) -> dict[str, str]:
    """What went wrong reaching each source that failed, by bucket."""
    from edge.errors import OssError

    problems = {}
    async with contextlib.asynccontextmanager(origin.session.cleanup_ctx)(None):
        for name, source in origin.sources.items():
            async with contextlib.asynccontextmanager(source.cleanup_ctx)(None):
                try:
                    await source.check()
                except OssError as exc:
                    problems[name] = exc.message
    return problems


def _warn_missing_fonts() -> None:
    from edge import fonts

    for problem in fonts.problems():  # not fatal: /readyz lists them too
        _say(f"edge: warning: {problem}", logging.WARNING)


def _say(text: str, level: int = logging.INFO) -> None:
    """A start-up message: printed as it is (warnings on stderr), or with `log_format = "json"`
    one log line, so that every line is JSON."""
    from edge import logs

    if logs.is_json():
        logging.getLogger("edge").log(level, text)
    else:
        print(text, file=sys.stderr if level >= logging.WARNING else sys.stdout, flush=True)


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


def _serve(app, sock, config: Config, demo: bool) -> int:
    from edge import serving
    from edge.access_log import AccessLog, JsonAccessLog

    server = config.server
    base = f"http://{server.host}:{server.port}"
    if demo:
        from edge.demo import banner, demo_folder

        _say(banner(base, demo_folder(), sys.executable))
    else:
        _say(f"edge: serving {', '.join(config.buckets)} on {base}")
    loop = _new_loop()
    try:
        loop.run_until_complete(serving.serve(
            app, sock, server, access_log_class=JsonAccessLog if server.log_format == "json" else AccessLog,
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
