"""The server configuration: one TOML file, overridable key by key from the environment.

`load(path)` reads the file (or nothing, for the built-in defaults), applies
`EDGE_<SECTION>__<KEY>` environment variables (`__` separates levels, e.g.
`EDGE_SERVER__PORT=9000`, `EDGE_BUCKETS__DEMO__SOURCE=file:///srv/img`; values
are parsed as TOML values, falling back to plain strings) and validates
everything, raising `ConfigError` with the dotted name of the first bad key.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import importlib.util
import ipaddress
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration key is unknown, missing or out of range; the message names it."""


def _check(predicate, why: str) -> dict:
    return {"check": predicate, "why": why}


STYLE_NAME_LENGTH = 63
STYLE_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{STYLE_NAME_LENGTH}}}")  # a style's name, whole (fullmatch)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_SEPARATORS = ("@!", "-", "_", "/", "!")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_check(lambda v: 0 <= v <= 65535, "must be 0..65535"))
    workers: int = field(default=0, metadata=_check(lambda v: 0 <= v <= 256, "must be 0 (CPU count)..256"))
    queue: int = field(default=64, metadata=_check(lambda v: 0 <= v <= 100_000, "must be 0..100000"))
    job_timeout: float = field(default=30.0, metadata=_check(lambda v: 0 < v <= 3600, "must be in (0, 3600] seconds"))
    queue_timeout: float = field(default=10.0, metadata=_check(lambda v: 0 < v <= 3600, "must be in (0, 3600] seconds"))
    worker_max_jobs: int = field(default=2000, metadata=_check(lambda v: v >= 0, "must be >= 0 (0: never recycle)"))
    worker_max_rss_mb: int = field(default=1024, metadata=_check(lambda v: v >= 0, "must be >= 0 (0: no cap)"))
    shutdown_timeout: float = field(default=10.0, metadata=_check(lambda v: 0 <= v <= 600, "must be 0..600 seconds"))
    host_id: str = "edge"
    access_log: bool = True
    # "json": every line (access, server, workers) one JSON object (docs/observability.md).
    log_format: str = field(default="text", metadata=_check(lambda v: v in ("text", "json"), 'must be "text" or "json"'))
    # Modules that register operations and dialects (edge.registry); the core imports none by name.
    plugins: tuple[str, ...] = ("plugins.dialects", "plugins.operations")

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True)
class S3Config:
    """How to reach an S3-protocol bucket (AWS S3, Alibaba OSS, MinIO): docs/storage.md."""

    # "" is AWS S3 in `region`; e.g. https://s3.oss-cn-hangzhou.aliyuncs.com or http://minio:9000.
    endpoint_url: str = field(default="", metadata=_check(lambda v: not v or v.startswith(("http://", "https://")),
                                                          "must be http(s)://host[:port]"))
    region: str = "us-east-1"
    # Alibaba OSS takes virtual-hosted only; MinIO and most self-hosted servers want "path".
    addressing_style: str = field(default="virtual", metadata=_check(lambda v: v in ("virtual", "path"),
                                                                     'must be "virtual" or "path"'))
    # Both or neither: neither uses the AWS chain (AWS_ACCESS_KEY_ID..., ~/.aws, the instance's role).
    access_key_id: str = ""
    secret_access_key: str = ""


_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")


def _is_store(value: str) -> bool:
    return not value or bool(_S3_URL.match(value))


@dataclass(frozen=True)
class CacheConfig:
    memory_bytes: int = field(default=256 << 20, metadata=_check(lambda v: v >= 0, "must be >= 0"))
    disk_path: str = ""
    disk_bytes: int = field(default=10 << 30, metadata=_check(lambda v: v >= 0, "must be >= 0"))
    redis_url: str = ""
    redis_ttl_seconds: int = field(default=7 * 86400, metadata=_check(lambda v: v >= 0, "must be >= 0 (0: no expiry)"))
    revalidate_seconds: float = field(default=10.0, metadata=_check(lambda v: v >= 0, "must be >= 0"))
    # Originals fetched from an http or s3 source, kept so a srcset burst downloads one once (edge.originals).
    originals_bytes: int = field(default=128 << 20, metadata=_check(lambda v: v >= 0, "must be >= 0 (0: none kept)"))
    # The last level, after memory, disk and Redis: renditions in a bucket (edge.cache_store), with `s3`.
    store: str = field(default="", metadata=_check(_is_store, "must be s3://bucket[/prefix]"))
    s3: S3Config = S3Config()
    # Fleet-wide single-flight (edge.lease), on with redis_url: a dead holder's lease ends after
    # lease_seconds; a waiter renders itself after lease_wait_seconds.
    lease_seconds: float = field(default=5.0, metadata=_check(lambda v: 0.1 <= v <= 600, "must be 0.1..600 seconds"))
    lease_wait_seconds: float = field(default=20.0, metadata=_check(lambda v: 0 < v <= 3600,
                                                                    "must be in (0, 3600] seconds"))
    # How long a CDN may keep the errors that stay true until the object or URL changes (400, 404,
    # 405, 414); 0: no-store, as every other error (403, 429, 5xx) always is.
    error_max_age: int = field(default=10, metadata=_check(lambda v: 0 <= v <= 86400, "must be 0..86400 seconds"))


@dataclass(frozen=True)
class Limits:
    source_bytes: int = field(default=20 << 20, metadata=_check(lambda v: v > 0, "must be > 0"))
    # Videos for snapshots: a file source is read by path (only what the decode needs); an
    # http source is downloaded whole, so this also bounds memory per snapshot.
    video_bytes: int = field(default=256 << 20, metadata=_check(lambda v: v > 0, "must be > 0"))
    source_side: int = field(default=30_000, metadata=_check(lambda v: v > 0, "must be > 0"))
    # Decoding cost is memory: 100 Mpx is ~300 MB of RGB, so this is the bomb cap.
    source_pixels: int = field(default=100_000_000, metadata=_check(lambda v: v > 0, "must be > 0"))
    # All frames of an animation together (frames x width x height).
    animation_pixels: int = field(default=200_000_000, metadata=_check(lambda v: v > 0, "must be > 0"))
    target_pixels: int = field(default=4096 * 4096, metadata=_check(lambda v: v > 0, "must be > 0"))
    target_side: int = field(default=4096 * 4, metadata=_check(lambda v: v > 0, "must be > 0"))
    rotate_side: int = field(default=4096, metadata=_check(lambda v: v > 0, "must be > 0"))
    # The most estimated CPU one rendition may cost (edge.cost, docs/reliability.md); over it is a 400.
    work_budget_ms: int = field(default=8000, metadata=_check(lambda v: v > 0, "must be > 0 milliseconds"))
    connect_timeout: float = field(default=3.0, metadata=_check(lambda v: v > 0, "must be > 0 seconds"))
    read_timeout: float = field(default=10.0, metadata=_check(lambda v: v > 0, "must be > 0 seconds"))
    # One upstream fetch in all (connect, headers, body): an upstream that sends a byte every few
    # seconds never trips read_timeout. 30 s fetches the largest video (video_bytes) at ~70 Mbit/s.
    fetch_timeout: float = field(default=30.0, metadata=_check(lambda v: 0 < v <= 3600, "must be in (0, 3600] seconds"))


@dataclass(frozen=True)
class Protection:
    enabled: bool = False
    suffixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BucketConfig:
    name: str
    source: str = field(
        default="",
        metadata=_check(lambda v: v.startswith(("file:///", "http://", "https://")) or bool(_S3_URL.match(v)),
                        "must be file:///abs/dir, http(s)://host/prefix or s3://bucket/prefix"),
    )
    s3: S3Config = S3Config()  # how to reach an s3:// source
    domains: tuple[str, ...] = ()
    styles: Mapping[str, str] = field(
        default_factory=dict,
        metadata=_check(lambda v: len(v) <= 50 and all(STYLE_NAME.fullmatch(k) for k in v),
                        "at most 50 styles, names of 1-63 characters of [A-Za-z0-9_.-]"),
    )
    style_separators: tuple[str, ...] = field(
        default=("@!",),
        metadata=_check(lambda v: all(s in _SEPARATORS for s in v), f"each must be one of {_SEPARATORS}"),
    )
    legacy_api: bool = True
    private: bool = False
    protection: Protection = Protection()
    access_keys: Mapping[str, str] = field(default_factory=dict)
    appcodes: tuple[str, ...] = ()
    cache_control: str = "public, max-age=86400"
    # Answers to signed requests and from private buckets: a shared cache must not hand them to
    # others. A CDN that signs its own origin pulls may set this to a public value.
    signed_cache_control: str = "private"
    # Renditions without an explicit format get avif/webp by the Accept header (and Vary: Accept).
    auto_format: bool = False

    def is_bound_to(self, host: str) -> bool:
        """Whether `host` (a Host header or a URL's host[:port]; port ignored, case-insensitive) is one
        of `domains`: a request to it names no bucket, and a URL signed for it is `/<key>` (cname)."""
        return (host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host) in self.domains


def _are_networks(values: tuple[str, ...]) -> bool:
    try:
        for value in values:
            ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


def _is_usable_model(path: str) -> bool:
    return not path or (os.path.isfile(path) and importlib.util.find_spec("onnxruntime") is not None)


@dataclass(frozen=True)
class UpscaleConfig:
    """The photo upscale API, `POST /tasks/visual/scale` (docs/upscale.md)."""

    # Only these AppCodes may call it (bucket appcodes grant reading a bucket, not CPU seconds).
    appcodes: tuple[str, ...] = ()
    qps: float = field(default=2.0, metadata=_check(lambda v: 0 < v <= 10_000, "must be in (0, 10000] per second"))
    # image_url may reach these networks although they are private, loopback, link-local...
    allow_networks: tuple[str, ...] = field(
        default=(), metadata=_check(_are_networks, "each must be an IP network such as 10.1.0.0/16 or ::1/128"))
    onnx_model: str = field(
        default="", metadata=_check(_is_usable_model, "must be an existing .onnx file, with onnxruntime installed "
                                                      "(pip install 'edge-origin[upscale-onnx]')"))
    # Base of result links (https://img.example.com); "" uses the scheme and Host of the request.
    public_url: str = field(
        default="", metadata=_check(lambda v: not v or v.startswith(("http://", "https://")),
                                    "must be http(s)://host[:port][/prefix]"))
    timeout: float = field(default=30.0, metadata=_check(lambda v: 0 < v <= 3600, "must be in (0, 3600] seconds"))
    task_retention: float = field(default=3600.0, metadata=_check(lambda v: v > 0, "must be > 0 seconds"))
    max_tasks: int = field(default=1000, metadata=_check(lambda v: v > 0, "must be > 0"))
    # Results kept for their links; one 4096x4096 RGBA PNG (at most ~70 MB) must always fit.
    result_bytes: int = field(default=256 << 20, metadata=_check(lambda v: v >= 128 << 20, "must be >= 128 MiB"))


@dataclass(frozen=True)
class GpuConfig:
    """The GPU path for JPEG misses (docs/gpu.md; the extra `edge-origin[gpu]`)."""

    # auto: used where the start-up probe finds a usable GPU; on: refuse to start without one.
    enabled: str = field(default="auto", metadata=_check(lambda v: v in ("auto", "on", "off"),
                                                         'must be "auto", "on" or "off"'))
    # While the GPU worker is down its renditions are answered 503 with Retry-After, or, with
    # "cpu", made by the CPU workers under the CPU's ETag.
    fallback: str = field(default="503", metadata=_check(lambda v: v in ("503", "cpu"), 'must be "503" or "cpu"'))
    batch: int = field(default=32, metadata=_check(lambda v: 1 <= v <= 256, "must be 1..256"))
    batch_wait_ms: float = field(default=3.0, metadata=_check(lambda v: 0 <= v <= 100, "must be 0..100 ms"))
    queue: int = field(default=256, metadata=_check(lambda v: 1 <= v <= 100_000, "must be 1..100000"))
    # Threads of the GPU worker that share each batch, so one decodes while another works on the host.
    lanes: int = field(default=2, metadata=_check(lambda v: 1 <= v <= 8, "must be 1..8"))
    # "cpu" runs the GPU path's code on nvImageCodec's CPU backend: for tests, never faster.
    device: str = field(default="gpu", metadata=_check(lambda v: v in ("gpu", "cpu"), 'must be "gpu" or "cpu"'))


@dataclass(frozen=True)
class CompressionConfig:
    """How hard the HEIC, AVIF and WebP encoders work for their bytes (docs/compression.md)."""

    # "fast": the settings every workload's speed is measured with. "small": for an origin whose
    # renditions are made once and sent many times, 2-4x the encode CPU of a still HEIC, AVIF or
    # WebP for 7-15 % fewer bytes at the same look.
    effort: str = field(default="fast", metadata=_check(lambda v: v in ("fast", "small"), 'must be "fast" or "small"'))


@dataclass(frozen=True)
class ConsoleConfig:
    """The console in the browser, /_edge/console (docs/console.md)."""

    enabled: bool = False
    # A visitor signs in with an access key of the bucket (buckets.<name>.access_keys) to use it on
    # that bucket; false only for a local demo, where anyone who reaches the port may use it.
    sign_in: bool = True


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    cache: CacheConfig = CacheConfig()
    limits: Limits = Limits()
    buckets: Mapping[str, BucketConfig] = field(default_factory=dict)
    upscale: UpscaleConfig = UpscaleConfig()
    gpu: GpuConfig = GpuConfig()
    compression: CompressionConfig = CompressionConfig()
    console: ConsoleConfig = ConsoleConfig()

    def bucket_for_host(self, host: str) -> BucketConfig | None:
        """The bucket whose `domains` holds `host` (port ignored, case-insensitive), if any."""
        return next((bucket for bucket in self.buckets.values() if bucket.is_bound_to(host)), None)


def load(path: str | None = None, environ: Mapping[str, str] | None = None,
         defaults: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Build a validated `Config`: `defaults` < the TOML file at `path` < the environment < `overrides`.

    Raises `ConfigError` naming the key (`server.port`, `buckets.demo.source`) on any problem.
    """
    raw: dict[str, Any] = _deep_copy(defaults or {})
    if path:
        try:
            with open(path, "rb") as fh:
                _merge(raw, tomllib.load(fh))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    _merge(raw, _from_environment(os.environ if environ is None else environ))
    _merge(raw, overrides or {})
    return _build_config(raw)


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith("EDGE_") or "__" not in name:
            continue
        path = [part.lower() for part in name[len("EDGE_"):].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env_value(text)
    return tree


def _parse_env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = _deep_copy(value) if isinstance(value, Mapping) else value


def _deep_copy(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


def _build_config(raw: dict[str, Any]) -> Config:
    _reject_unknown(raw, {"server", "cache", "limits", "buckets", "upscale", "gpu", "compression", "console"}, "")
    buckets_raw = raw.get("buckets", {})
    if not isinstance(buckets_raw, dict):
        raise ConfigError("buckets: must be a table of buckets")
    buckets = {}
    for name, table in buckets_raw.items():
        if not _BUCKET_NAME.match(name):
            raise ConfigError(f"buckets.{name}: bucket names are 3-63 characters of a-z, 0-9 and '-'")
        bucket = _build(BucketConfig, {**_as_table(table, f"buckets.{name}"), "name": name}, f"buckets.{name}")
        if not bucket.source:
            raise ConfigError(f"buckets.{name}.source: missing (file:///abs/dir, http(s)://host/prefix or "
                              f"s3://bucket/prefix)")
        _check_keys(bucket.s3, f"buckets.{name}.s3")
        buckets[name] = bucket
    _reject_shared_domains(buckets)
    cache = _build(CacheConfig, _as_table(raw.get("cache", {}), "cache"), "cache")
    _check_keys(cache.s3, "cache.s3")
    return Config(
        server=_build(ServerConfig, _as_table(raw.get("server", {}), "server"), "server"),
        cache=cache,
        limits=_build(Limits, _as_table(raw.get("limits", {}), "limits"), "limits"),
        buckets=types.MappingProxyType(buckets),
        upscale=_build(UpscaleConfig, _as_table(raw.get("upscale", {}), "upscale"), "upscale"),
        gpu=_build(GpuConfig, _as_table(raw.get("gpu", {}), "gpu"), "gpu"),
        compression=_build(CompressionConfig, _as_table(raw.get("compression", {}), "compression"), "compression"),
        console=_build(ConsoleConfig, _as_table(raw.get("console", {}), "console"), "console"),
    )


def _check_keys(s3: S3Config, where: str) -> None:
    if bool(s3.access_key_id) != bool(s3.secret_access_key):
        raise ConfigError(f"{where}: access_key_id and secret_access_key go together (or neither, for the AWS "
                          f"credential chain)")


def _reject_shared_domains(buckets: Mapping[str, BucketConfig]) -> None:
    owner: dict[str, str] = {}
    for bucket in buckets.values():
        for domain in bucket.domains:
            if domain in owner:
                raise ConfigError(f"buckets.{bucket.name}.domains: {domain} is bound to bucket {owner[domain]} too")
            owner[domain] = bucket.name


def _as_table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table")
    return value


def _reject_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            dotted = f"{where}.{key}" if where else key
            raise ConfigError(f"{dotted}: unknown key (known: {', '.join(sorted(known))})")


def _build(cls, table: dict[str, Any], where: str):
    """Instantiate the dataclass `cls` from `table`, checking every key's type and range."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(table, set(fields), where)
    values = {}
    for name, value in table.items():
        dotted = f"{where}.{name}"
        value = _coerce(hints[name], value, dotted)
        check = fields[name].metadata.get("check")
        if check and not check(value):
            raise ConfigError(f"{dotted}: {fields[name].metadata['why']} (got {value!r})")
        values[name] = value
    return cls(**values)


def _coerce(kind, value: Any, dotted: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return _build(kind, _as_table(value, dotted), dotted)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{dotted}: must be a list of strings (got {value!r})")
    elif origin in (collections.abc.Mapping, dict):
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return types.MappingProxyType(dict(value))
        raise ConfigError(f"{dotted}: must be a table of strings (got {value!r})")
    raise ConfigError(f"{dotted}: must be {getattr(kind, '__name__', kind)} (got {value!r})")
