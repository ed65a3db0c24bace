"""The OSS query dialect: `?x-oss-process=image/<action>,<k>_<v>/...` (`|` chains are the core's
grammar: edge.pipeline.piped)."""

from __future__ import annotations

from typing import Mapping

from edge.config import BucketConfig
from edge.dialects import Asked, query_dialect
from edge.errors import InvalidArgument
from edge.pipeline import piped, split_saveas


@query_dialect(order=10)
def parse(key: str, query: Mapping[str, str], bucket: BucketConfig) -> Asked | None:
    if "x-oss-process" not in query:
        return None
    process = query["x-oss-process"].strip()
    if not process:
        raise InvalidArgument("x-oss-process is empty")
    if split_saveas(process)[1] is not None:
        raise InvalidArgument("sys/saveas writes an object: send it in a signed POST, not a GET")
    return Asked(key, piped(process), "oss")
