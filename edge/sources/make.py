"""The source for a bucket, from its `source` URL (kept apart from edge.sources, which each kind of
source imports: the package does not import its kinds back)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from edge.config import BucketConfig, ConfigError
from edge.sources import Source

if TYPE_CHECKING:
    from edge.sources.http import UpstreamSession


def make_source(bucket: BucketConfig, limits, upstream: UpstreamSession, revalidate_seconds: float) -> Source:
    """The source for a bucket's `source` URL (`file:///dir`, `http(s)://host/prefix` with the
    server's one `upstream` session, or `s3://bucket/prefix` with the bucket's `s3` table); raises
    ConfigError naming the folder when a `file://` folder does not exist."""
    url = bucket.source
    if url.startswith("s3://"):
        from edge.sources.s3 import S3Source  # aiobotocore and a client cost ~25 MB: only when configured

        return S3Source(url, bucket.s3, limits, revalidate_seconds)
    if url.startswith("file://"):
        from edge.sources.file import FileSource

        folder = url[len("file://"):]
        if not os.path.isdir(folder):  # at start-up: serving only 404s, silently, helps nobody
            raise ConfigError(f"source {url}: the folder {folder} does not exist; make it, or point "
                              f"the bucket's source at the folder of your images")
        return FileSource(folder)
    from edge.sources.http import HttpSource

    return HttpSource(url, limits, upstream, revalidate_seconds)
