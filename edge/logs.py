"""Log lines, as `[server] log_format` says: "text" (as `logging.basicConfig` lays them out) or
"json" (one object a line), for the server's own lines and its workers' (access lines:
edge.access_log).

`setup(format)` configures the root logger and exports the format to the worker processes
(they inherit the environment and call `setup_from_environment`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ENVIRONMENT = "EDGE_LOG_FORMAT"  # no "__": edge.config does not read it as a key


def setup(log_format: str) -> None:
    """Send every logger's INFO and above to stderr in `log_format` ("text" or "json"), uncaught
    exceptions and warnings included, in this process and the workers it starts."""
    os.environ[_ENVIRONMENT] = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def setup_from_environment() -> None:
    """`setup` with the format the server exported (a worker process); text when none was."""
    setup(os.environ.get(_ENVIRONMENT, "text"))


def is_json() -> bool:
    return os.environ.get(_ENVIRONMENT) == "json"


def _log_uncaught(kind, value, traceback) -> None:
    logging.getLogger("edge").critical("uncaught exception", exc_info=(kind, value, traceback))


def utc_text(seconds: float) -> str:
    """ISO 8601 UTC with milliseconds: 2026-11-27T18:20:07.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, pid, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": utc_text(record.created), "level": record.levelname, "logger": record.name,
                 "pid": record.process, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)
