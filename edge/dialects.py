"""URL dialects: each turns a request into the key it names and the `Pipeline` it asks for.

A dialect plugin (plugins/dialects/) registers a parser with `@dialect`;
parsers are tried in order and the first that claims the request wins. A
request no dialect claims asks for the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from edge.config import BucketConfig
from edge.pipeline import Pipeline


@dataclass(frozen=True)
class Asked:
    """What a request asks for: `key` of the original, `pipeline` (None: the original itself)."""

    key: str
    pipeline: Pipeline | None
    dialect: str


Parser = Callable[[str, Mapping[str, str], BucketConfig], "Asked | None"]
_DIALECTS: list[tuple[int, str, Parser]] = []


def dialect(name: str, order: int = 100) -> Callable[[Parser], Parser]:
    """Register `parser(key, query, bucket) -> Asked | None` under `name`; lower `order` runs first."""

    def register(parser: Parser) -> Parser:
        _DIALECTS.append((order, name, parser))
        _DIALECTS.sort(key=lambda entry: entry[0])
        return parser

    return register


def parse(key: str, query: Mapping[str, str], bucket: BucketConfig) -> Asked:
    """Ask each dialect in turn; raises the first dialect's OssError for a malformed request."""
    for _, _, parser in _DIALECTS:
        asked = parser(key, query, bucket)
        if asked is not None:
            return asked
    return Asked(key, None, "original")
