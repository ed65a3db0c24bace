"""URL dialects: each turns a request into the key it names and the `Pipeline` it asks for.

Dialect plugins (plugins/dialects/) come in two kinds, both pure (they never
look at the source):

- a *query* dialect (`@query_dialect`) reads the query string
  (`?x-oss-process=...`, `?imageMogr2/...`) and claims the request for the
  whole key, or returns None;
- a *key* dialect (`@key_dialect`) reads instructions appended to the key
  (`photo.jpg@!thumb`, `photo.jpg-thumb`, `photo.jpg@100w.png`) and offers
  `Reading`s: which original they name and how to build the pipeline.

A dialect that reads the bucket's config (styles) may register a
`@bucket_check`, which start-up runs on every bucket, so a typo stops it.

`parse` is the one place that asks the source, to apply the key rule
(docs/dialects.md): a query dialect that claims the request wins; else a key
that names an existing object is that object, whatever characters it holds;
else the first reading whose instructions parse wins; else the error of the
first reading whose original exists (NoSuchStyle, InvalidArgument, ...);
else nothing has that name and the original path answers NoSuchKey.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Mapping

from edge.config import BucketConfig, Config
from edge.errors import OssError
from edge.pipeline import Pipeline


@dataclass(frozen=True)
class Asked:
    """What a request asks for: `key` of the original, `pipeline` (None: the original itself)."""

    key: str
    pipeline: Pipeline | None
    dialect: str


@dataclass(frozen=True)
class Reading:
    """One way to read a key as `<original key><separator><instructions>`.

    `build()` parses the instructions into a Pipeline and raises the dialect's
    OssError when they are malformed.
    """

    key: str
    dialect: str
    build: Callable[[], Pipeline]


QueryParser = Callable[[str, Mapping[str, str], BucketConfig], "Asked | None"]
KeyParser = Callable[[str, BucketConfig], Iterable[Reading]]
Exists = Callable[[str], Awaitable[bool]]

BucketCheck = Callable[[BucketConfig], None]

_QUERY: list[tuple[int, QueryParser]] = []
_KEY: list[tuple[int, KeyParser]] = []
_CHECKS: list[BucketCheck] = []


def _registrar(table: list, order: int):
    def register(parser):
        table.append((order, parser))
        table.sort(key=lambda entry: entry[0])
        return parser

    return register


def query_dialect(order: int = 100) -> Callable[[QueryParser], QueryParser]:
    """Register `parser(key, query, bucket) -> Asked | None`; lower `order` runs first."""
    return _registrar(_QUERY, order)


def key_dialect(order: int = 100) -> Callable[[KeyParser], KeyParser]:
    """Register `parser(key, bucket) -> Iterable[Reading]`; lower `order` is read first."""
    return _registrar(_KEY, order)


def bucket_check(check: BucketCheck) -> BucketCheck:
    """Register `check(bucket)`, run by `check_buckets`; it raises ConfigError naming the bad key."""
    _CHECKS.append(check)
    return check


def check_buckets(config: Config) -> None:
    """Run every registered bucket check on every bucket of `config`; raises the first ConfigError."""
    for bucket in config.buckets.values():
        for check in _CHECKS:
            check(bucket)


def from_query(key: str, query: Mapping[str, str], bucket: BucketConfig) -> Asked | None:
    """What the query asks of `key` when a query dialect claims it (`x-oss-process=style/thumb`), else
    None; raises the claiming dialect's OssError. Never asks the source."""
    for _, query_parser in _QUERY:
        asked = query_parser(key, query, bucket)
        if asked is not None:
            return asked
    return None


async def parse(key: str, query: Mapping[str, str], bucket: BucketConfig, exists: Exists) -> Asked:
    """What the request for `key` with `query` asks of `bucket`; `exists(key)` asks the source.

    Raises the claiming query dialect's OssError, or the error of the first key
    reading whose original exists. The source is asked only when the key can
    be read as instructions: whether the whole key exists (it then wins), and,
    when no reading parses, which of the readings names an existing original.
    """
    asked = from_query(key, query, bucket)
    if asked is not None:
        return asked
    readings = [reading for _, key_parser in _KEY for reading in key_parser(key, bucket)]
    if not readings or await exists(key):
        return Asked(key, None, "original")
    failures: list[tuple[str, OssError]] = []
    for reading in readings:
        try:
            return Asked(reading.key, reading.build(), reading.dialect)
        except OssError as exc:
            failures.append((reading.key, exc))
    for original, error in failures:
        if await exists(original):
            raise error
    return Asked(key, None, "original")
