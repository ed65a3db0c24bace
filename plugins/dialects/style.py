"""Styles: process strings named in the bucket config (OSS manual 2.8).

Asked as `?x-oss-process=style/<name>`, optionally followed by more actions
(`style/<name>/resize,w_50`, run after the style's own), or as
`<key><separator><name>` for each separator the bucket enables (`@!`, `-`,
`_`, `/`, `!`); `@!` is also a separator whenever the legacy API is on, as it
was on the old IMG service. A style's body is a new-API process string
(`image/...`) or, as the old service stored them, legacy instructions
(`100w_100h_1e_1c.png`).
"""

from __future__ import annotations

from functools import partial
from typing import Mapping

from edge.config import STYLE_NAME, STYLE_NAME_LENGTH, BucketConfig, ConfigError
from edge.dialects import Asked, Reading, bucket_check, key_dialect, query_dialect
from edge.errors import NoSuchStyle, OssError
from edge.pipeline import Pipeline
from plugins.dialects import legacy



def pipeline(bucket: BucketConfig, name: str) -> Pipeline:
    """The Pipeline of the style `name` in `bucket`; NoSuchStyle when it has none by that name."""
    body = bucket.styles.get(name)
    if body is None:
        raise NoSuchStyle(f"the style {name!r} does not exist in bucket {bucket.name}")
    body = body.strip()
    # New-API strings always hold a '/' (image/..., video/...); legacy instructions never do.
    return Pipeline.parse(body) if "/" in body else legacy.pipeline(body)


@bucket_check
def check_styles(bucket: BucketConfig) -> None:
    """ConfigError naming the first of the bucket's styles that does not parse."""
    for name in bucket.styles:
        try:
            pipeline(bucket, name)
        except OssError as exc:
            raise ConfigError(f"buckets.{bucket.name}.styles.{name}: {exc.message}") from None


@query_dialect(order=5)  # before the oss dialect, which owns every other x-oss-process
def parse_query(key: str, query: Mapping[str, str], bucket: BucketConfig) -> Asked | None:
    """`x-oss-process=style/<name>[/<action>...]`; the dialect is "style+image" when actions follow."""
    process = query.get("x-oss-process", "").strip()
    if not process.startswith("style/"):
        return None
    name, _, more = process.removeprefix("style/").partition("/")
    styled = pipeline(bucket, name)
    if not more.strip("/"):
        return Asked(key, styled, "style")
    # Parsed as one string, so the actions run after the style's and a setting given after
    # the style wins over the style's own (the last one asked wins).
    return Asked(key, Pipeline.parse(f"{styled.canonical()}/{more}"), "style+image")


@key_dialect(order=10)
def read_key(key: str, bucket: BucketConfig) -> list[Reading]:
    """Readings of `key` as `<original><separator><style>`.

    First every split whose name is one of the bucket's styles, leftmost first
    (so the longest such name); then, per separator, the rightmost split whose
    name could be a style, which answers NoSuchStyle if its original exists.
    """
    separators = set(bucket.style_separators) | ({"@!"} if bucket.legacy_api else set())
    known: list[tuple[int, int, Reading]] = []
    unknown: list[Reading] = []
    for separator in sorted(separators, key=len, reverse=True):
        # A name is at most 63 characters: only the key's tail can hold separator + name.
        start = max(1, len(key) - STYLE_NAME_LENGTH - len(separator))
        rightmost = None
        at = key.find(separator, start)
        while at != -1:
            name = key[at + len(separator):]
            if name in bucket.styles:
                known.append((at, -len(separator), Reading(key[:at], "style", partial(pipeline, bucket, name))))
            elif STYLE_NAME.fullmatch(name):
                rightmost = Reading(key[:at], "style", partial(pipeline, bucket, name))
            at = key.find(separator, at + 1)
        if rightmost is not None:
            unknown.append(rightmost)
    return [reading for _, _, reading in sorted(known, key=lambda entry: entry[:2])] + unknown
