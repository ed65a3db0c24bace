"""One exception family for every answer that is not a success.

Each error carries the OSS error code and its HTTP status (the code table of
the OSS image-processing manuals); `render_xml` turns it into the OSS XML body.
Handlers and workers raise these; only the error middleware renders them.
"""

from __future__ import annotations

from xml.sax.saxutils import escape


class OssError(Exception):
    """An OSS error answer: `code` and `status` come from the class, `message` names the problem."""

    code = "InternalError"
    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def __reduce__(self):
        # Workers send errors back pickled; keep the headers across the trip.
        return (_rebuild, (type(self), self.message, self.headers))


def _rebuild(cls: type[OssError], message: str, headers: dict[str, str]) -> OssError:
    return cls(message, headers=headers)


class InvalidArgument(OssError):
    code, status = "InvalidArgument", 400


class BadRequest(OssError):
    code, status = "BadRequest", 400


class MissingArgument(OssError):
    code, status = "MissingArgument", 400


class ImageTooLarge(OssError):
    code, status = "ImageTooLarge", 400


class WatermarkError(OssError):
    """A watermark that cannot be drawn: bad base64, a missing or unreadable image, too many images."""

    code, status = "WatermarkError", 400


class InvalidObjectName(OssError):
    code, status = "InvalidObjectName", 400


class TooManyPipe(OssError):
    """The legacy `@` API chains at most four actions with `|` (old IMG manual)."""

    code, status = "TooManyPipe", 400


class RequestTimeout(OssError):
    """A request body that did not arrive in time (OSS and S3 answer this code with 400)."""

    code, status = "RequestTimeout", 400


class InvalidDigest(OssError):
    """A body that does not match its (signed) Content-MD5."""

    code, status = "InvalidDigest", 400


class AccessDenied(OssError):
    code, status = "AccessDenied", 403


class SignatureDoesNotMatch(OssError):
    code, status = "SignatureDoesNotMatch", 403


class InvalidAccessKeyId(OssError):
    code, status = "InvalidAccessKeyId", 403


class RequestTimeTooSkewed(OssError):
    """A header-signed request whose date is more than 15 minutes from ours."""

    code, status = "RequestTimeTooSkewed", 403


class NoSuchKey(OssError):
    code, status = "NoSuchKey", 404


class NoSuchBucket(OssError):
    code, status = "NoSuchBucket", 404


class NoSuchStyle(OssError):
    code, status = "NoSuchStyle", 404


class MethodNotAllowed(OssError):
    code, status = "MethodNotAllowed", 405


class RequestUriTooLong(OssError):
    """A request line over the HTTP parser's limit (RFC 9112 3: a server MUST answer 414)."""

    code, status = "RequestUriTooLong", 414


class PreconditionFailed(OssError):
    """An original asked with If-Match or If-Unmodified-Since that the object no longer meets."""

    code, status = "PreconditionFailed", 412


class InvalidRange(OssError):
    code, status = "InvalidRange", 416


class RequestHeaderTooLarge(OssError):
    """A header field over the HTTP parser's limit, or too many of them (RFC 6585 431)."""

    code, status = "RequestHeaderTooLarge", 431


class ClientClosedRequest(OssError):
    """The client closed the connection before its answer: nobody reads this one. 499 as nginx logs
    it, so the access log and `edge_requests_total` do not count it as a failure of ours."""

    code, status = "ClientClosedRequest", 499


class InternalError(OssError):
    code, status = "InternalError", 500


class NotImplementedOss(OssError):
    code, status = "NotImplemented", 501


class SourceUnavailable(OssError):
    """The upstream origin failed or timed out: our 502, never its traceback."""

    code, status = "SourceUnavailable", 502


class SourceTimeout(OssError):
    """The upstream did not deliver an original within `limits.fetch_timeout`, or did not connect or
    went silent for `limits.connect_timeout` / `limits.read_timeout`: a gateway timeout."""

    code, status = "SourceTimeout", 504


class ServiceUnavailable(OssError):
    """The job queue is full, or a job waited `queue_timeout` for a worker; retry after `Retry-After` s."""

    code, status = "ServiceUnavailable", 503

    def __init__(self, message: str, *, retry_after: int = 1, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after), **(headers or {})})


class ProcessTimeout(OssError):
    """A job ran past the job timeout; its worker was killed and replaced."""

    code, status = "ProcessTimeout", 504


def render_xml(error: OssError, request_id: str, host_id: str) -> bytes:
    """The OSS error body: `<Error><Code/><Message/><RequestId/><HostId/></Error>`, UTF-8."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error>\n"
        f"  <Code>{escape(error.code)}</Code>\n"
        f"  <Message>{escape(error.message)}</Message>\n"
        f"  <RequestId>{escape(request_id)}</RequestId>\n"
        f"  <HostId>{escape(host_id)}</HostId>\n"
        "</Error>\n"
    ).encode()


class InvalidAppCode(OssError):
    """The transcode API's answer to a missing or unknown AppCode (seed 000: 400)."""

    code, status = "InvalidAppCode", 400


class TranscodeUnsupported(OssError):
    """The transcode API's answer to an enlargement or a GIF over 1920x1080 (seed 000: 500, kept for
    compatibility with clients of the original service)."""

    code, status = "TranscodeUnsupported", 500
