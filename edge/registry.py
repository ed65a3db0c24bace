"""The one place the core loads plugins: the modules named in `server.plugins`.

Importing a plugin module registers what it holds (operations with
`edge.pipeline.operation`, dialects with `edge.dialects.query_dialect` /
`key_dialect`, start-up checks with `edge.dialects.bucket_check`). The core
imports no plugin by name, so a plugin is added or left out in the config.
Workers load the same list as the server that starts them (`pool.start_worker`
passes it in EDGE_PLUGINS).
"""

from __future__ import annotations

import importlib
import os
from typing import Iterable

from edge.config import ServerConfig

ENVIRONMENT = "EDGE_PLUGINS"
_loaded: list[str] = []


def load(modules: Iterable[str]) -> None:
    """Import each module of `modules` (dotted names), once. An ImportError propagates: a plugin the
    config names and the installation lacks is a broken installation, not something to skip."""
    for name in modules:
        if name not in _loaded:
            importlib.import_module(name)
            _loaded.append(name)


def loaded() -> tuple[str, ...]:
    """The plugin modules loaded in this process, in load order."""
    return tuple(_loaded)


def load_inherited() -> None:
    """In a worker: load the plugins the starting server named in EDGE_PLUGINS, or the default
    `server.plugins` when it named none (a pool started outside a server, as in tests)."""
    names = [name for name in os.environ.get(ENVIRONMENT, "").split(",") if name]
    load(names or ServerConfig().plugins)
