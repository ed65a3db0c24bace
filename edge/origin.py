"""The per-application state that request handlers share."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from edge.config import Config
from edge.draining import Draining
from edge.metrics import Metrics
from edge.pool import WorkerPool
from edge.renditions import Renditions
from edge.sources import Source
from edge.sources.http import UpstreamSession


@dataclass
class Origin:
    """Everything a request handler needs, built once per application by `edge.app.make_app`."""

    config: Config
    metrics: Metrics
    pool: WorkerPool
    renditions: Renditions
    sources: dict[str, Source]
    session: UpstreamSession  # the HTTP sources' one client session
    draining: Draining = field(default_factory=Draining)


ORIGIN = web.AppKey("origin", Origin)
