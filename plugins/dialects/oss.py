"""The OSS query dialect: `?x-oss-process=image/<action>,<k>_<v>/...`.

`|` chains process strings (`image/resize,w_100|image/rotate,90`): they run in
order, as one pipeline, and at most four may be chained (OSS manual 2.7:
"管道目前限制在4个").
"""

from __future__ import annotations

from typing import Mapping

from edge.config import BucketConfig
from edge.dialects import Asked, query_dialect
from edge.errors import InvalidArgument, TooManyPipe
from edge.pipeline import Pipeline
from edge.saveas import split_saveas


MAX_PIPES = 4


@query_dialect("oss", order=10)
def parse(key: str, query: Mapping[str, str], bucket: BucketConfig) -> Asked | None:
    if "x-oss-process" not in query:
        return None
    process = query["x-oss-process"].strip()
    if not process:
        raise InvalidArgument("x-oss-process is empty")
    if split_saveas(process)[1] is not None:
        raise InvalidArgument("sys/saveas writes an object: send it in a signed POST, not a GET")
    return Asked(key, piped(process), "oss")


def piped(process: str) -> Pipeline:
    """The pipeline of `process`, whose `|`-chained parts (at most MAX_PIPES) run one after another."""
    parts = process.split("|")
    if len(parts) > MAX_PIPES:
        raise TooManyPipe(f"x-oss-process chains {len(parts)} parts with '|'; at most {MAX_PIPES} are allowed")
    if len(parts) == 1:
        return Pipeline.parse(process)
    pipelines = [Pipeline.parse(part) for part in parts]
    if any(p.kind != "image" for p in pipelines):
        raise InvalidArgument("x-oss-process: only image/... parts can be chained with '|'")
    return Pipeline.of([step for p in pipelines for step in p.steps])
