"""The two ways an upscale request ends badly.

`ApiError`: the request itself is refused (no task is made); the answer's HTTP
status and JSON `status` are the error's (400, 401, 404, 413, 429, 500).

`TaskFailure`: a task was made and failed; the answer is HTTP 200 with the
task's negative `state` (seed 002's state table). It is no OSS error answer
but a job's failure (edge.jobs.JobFailure), which the pool carries back from a
worker intact.
"""

from __future__ import annotations

from edge.errors import OssError
from edge.jobs import JobFailure


class ApiError(OssError):
    code, status = "UpscaleRefused", 400


class BadParameter(ApiError):
    code, status = "BadParameter", 400


class Unauthorized(ApiError):
    code, status = "Unauthorized", 401


class NotFound(ApiError):
    code, status = "NotFound", 404


class LinkExpired(ApiError):
    """A result link past its hour, or with a wrong signature (the seed's "403 forbidden")."""

    code, status = "LinkExpired", 403


class UploadTooLarge(ApiError):
    code, status = "UploadTooLarge", 413


class TooManyRequests(ApiError):
    code, status = "TooManyRequests", 429

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "1", **(headers or {})})


class ServerFailure(ApiError):
    code, status = "ServerFailure", 500


class TaskFailure(JobFailure):
    state = -1


class EnhanceFailed(TaskFailure):
    state = -1


class UploadFailed(TaskFailure):
    state = -2


class DownloadFailed(TaskFailure):
    state = -3


class DownloadTooLarge(TaskFailure):
    state = -5


class InvalidImage(TaskFailure):
    state = -7


class EnhanceTimeout(TaskFailure):
    state = -8
