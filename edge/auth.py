"""OSS request signatures, and what an unsigned caller may ask for.

`authenticate` finds who signed a request, byte for byte as the oss2 SDK
(and alibabacloud-oss-v2) signs it:

- V1: `Authorization: OSS <id>:<base64 hmac-sha1>`, or a signed URL with
  `OSSAccessKeyId`, `Expires`, `Signature`. The string to sign is
  `VERB\\nContent-MD5\\nContent-Type\\nDate-or-Expires\\n<x-oss-* headers><resource>`,
  the resource `/<bucket>/<key>` plus the subresources in the query
  (`?x-oss-process=...`).
- V4: `Authorization: OSS4-HMAC-SHA256 Credential=<id>/<date>/<region>/oss/aliyun_v4_request,
  Signature=<hex>[, AdditionalHeaders=...]`, or a URL with
  `x-oss-signature-version=OSS4-HMAC-SHA256` and `x-oss-credential`,
  `x-oss-date`, `x-oss-expires`, `x-oss-signature`.

Keys come from the bucket's `access_keys`. Signatures cover the key as it is
in the URL, before any dialect reads it. `authorize` applies source image
protection (OSS manual 2.9) once the dialect is known.
"""

from __future__ import annotations

import email.utils
import hmac
import time
from datetime import datetime, timezone

from aiohttp import web

from edge import signing
from edge.signing import V4_ALGORITHM, V4_MAX_EXPIRES
from edge.config import BucketConfig
from edge.dialects import Asked
from edge.errors import AccessDenied, InvalidAccessKeyId, RequestTimeTooSkewed, SignatureDoesNotMatch

MAX_SKEW = 15 * 60  # seconds a header-signed request's date may be from ours (OSS)

# Query parameters that V1 signs as part of the resource: oss2's own list (auth.py), so a
# signature it makes over any of them verifies here.
SUBRESOURCES = frozenset((
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link", "delete",
    "website", "location", "objectInfo", "objectMeta", "response-expires", "response-content-disposition",
    "cors", "lifecycle", "restore", "qos", "referer", "stat", "bucketInfo", "append", "position",
    "security-token", "live", "comp", "status", "vod", "startTime", "endTime", "x-oss-process", "symlink",
    "callback", "callback-var", "tagging", "encryption", "versions", "versioning", "versionId", "policy",
    "requestPayment", "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer", "sequential",
    "inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend", "replication",
    "replicationLocation", "replicationProgress", "transferAcceleration", "cname", "metaQuery",
    "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow",
    "resourceGroup", "style", "styleName", "x-oss-async-process", "regionList",
    "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig", "redundancyTransition",
    "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid", "accessPoint",
    "accessPointPolicy", "publicAccessBlock", "x-oss-access-point-name", "requesterQosInfo", "qosRequester",
    "resourcePoolInfo", "resourcePool", "resourcePoolBuckets",
))


def authenticate(request: web.Request, bucket: BucketConfig, key: str) -> str | None:
    """The access key id that signed `request` for `key` in `bucket`, or None for an unsigned request.

    Raises AccessDenied (expired URL, an unsigned request to a private bucket,
    an unsupported signature version), InvalidAccessKeyId, SignatureDoesNotMatch
    or RequestTimeTooSkewed.
    """
    now = time.time()
    authorization = request.headers.get("Authorization", "")
    query = request.query
    if authorization.startswith("OSS "):
        signer = _v1_header(request, bucket, key, authorization, now)
    elif authorization.startswith(V4_ALGORITHM + " "):
        signer = _v4_header(request, bucket, key, authorization, now)
    elif "Signature" in query or "OSSAccessKeyId" in query:
        signer = _v1_url(request, bucket, key, now)
    elif query.get("x-oss-signature-version") == V4_ALGORITHM:
        signer = _v4_url(request, bucket, key, now)
    elif authorization.startswith("OSS2 ") or "x-oss-signature" in query:
        raise AccessDenied("signature version 2 is not supported here; sign with V1 or V4 (OSS4-HMAC-SHA256)")
    else:
        signer = None
    if signer is None and bucket.private:
        raise AccessDenied(f"bucket {bucket.name} is private: the request must be signed")
    return signer


def authorize(bucket: BucketConfig, asked: Asked, signer: str | None) -> None:
    """Source image protection: raise AccessDenied when an unsigned caller asks a protected key
    (one ending in a protected suffix, case-insensitive) for anything but a style."""
    protection = bucket.protection
    if signer is not None or not protection.enabled or asked.dialect == "style":
        return
    if asked.key.lower().endswith(tuple(suffix.lower() for suffix in protection.suffixes)):
        raise AccessDenied(f"source image protection is on for {asked.key}: ask for it through a style, "
                           "or sign the request")


# -- V1 -------------------------------------------------------------------------------


def _v1_header(request: web.Request, bucket: BucketConfig, key: str, authorization: str, now: float) -> str:
    key_id, _, signature = authorization[len("OSS "):].strip().rpartition(":")
    secret = _secret(bucket, key_id)
    date = request.headers.get("x-oss-date") or request.headers.get("Date", "")
    _check_skew(_http_date(date), now)
    _compare(_v1_signatures(secret, request, bucket, key, date), signature)
    return key_id


def _v1_url(request: web.Request, bucket: BucketConfig, key: str, now: float) -> str:
    query = request.query
    key_id, expires, signature = (query.get(name, "") for name in ("OSSAccessKeyId", "Expires", "Signature"))
    secret = _secret(bucket, key_id)
    if not expires.isdigit():
        raise AccessDenied("Expires must be a time in seconds since the epoch")
    if int(expires) < now:
        raise AccessDenied("Request has expired.")
    _compare(_v1_signatures(secret, request, bucket, key, expires), signature)
    return key_id


def _v1_signatures(secret: str, request: web.Request, bucket: BucketConfig, key: str, date: str) -> list[str]:
    """The V1 signatures the request may carry: oss2 signs x-oss-process in the resource;
    alibabacloud-oss-v2's V1 signer leaves it out (the signature then does not bind the process)."""
    subresources = sorted((name, value) for name, value in request.query.items() if name in SUBRESOURCES)
    variants = [subresources]
    if "x-oss-process" in request.query:
        variants.append([(name, value) for name, value in subresources if name != "x-oss-process"])
    return [_v1_signature(secret, request, bucket, key, date, variant) for variant in variants]


def _v1_signature(secret: str, request: web.Request, bucket: BucketConfig, key: str, date: str,
                  subresources: list[tuple[str, str]]) -> str:
    oss_headers = [(name, value) for name, value in request.headers.items() if name.lower().startswith("x-oss-")]
    return signing.v1_signature(secret, request.method, request.headers.get("Content-MD5", ""),
                                request.headers.get("Content-Type", ""), date, oss_headers,
                                signing.v1_resource(bucket.name, key, subresources))


# -- V4 -------------------------------------------------------------------------------


def _v4_header(request: web.Request, bucket: BucketConfig, key: str, authorization: str, now: float) -> str:
    fields = dict(part.strip().partition("=")[::2] for part in authorization[len(V4_ALGORITHM):].split(","))
    date_time = request.headers.get("x-oss-date", "")
    _check_skew(_iso_date(date_time), now)
    additional = [name.lower() for name in fields.get("AdditionalHeaders", "").split(";") if name]
    return _v4_verify(request, bucket, key, fields.get("Credential", ""), date_time, additional,
                      fields.get("Signature", ""), request.query.items())


def _v4_url(request: web.Request, bucket: BucketConfig, key: str, now: float) -> str:
    query = request.query
    date_time, expires = query.get("x-oss-date", ""), query.get("x-oss-expires", "")
    if not expires.isdigit() or not 0 < int(expires) <= V4_MAX_EXPIRES:
        raise AccessDenied(f"x-oss-expires must be 1-{V4_MAX_EXPIRES} seconds")
    if _iso_date(date_time) + int(expires) < now:
        raise AccessDenied("Request has expired.")
    additional = [name.lower() for name in query.get("x-oss-additional-headers", "").split(";") if name]
    signed_params = [(name, value) for name, value in query.items() if name != "x-oss-signature"]
    return _v4_verify(request, bucket, key, query.get("x-oss-credential", ""), date_time, additional,
                      query.get("x-oss-signature", ""), signed_params)


def _v4_verify(request: web.Request, bucket: BucketConfig, key: str, credential: str, date_time: str,
               additional: list[str], signature: str, params) -> str:
    key_id, _, scope = credential.partition("/")
    day, region, product, terminal = (scope.split("/") + ["", "", "", ""])[:4]
    secret = _secret(bucket, key_id)
    if day != date_time[:8] or product != "oss" or terminal != "aliyun_v4_request" or not region:
        raise AccessDenied(f"the credential scope {scope!r} is not <date>/<region>/oss/aliyun_v4_request "
                           "for the request's date")
    headers = [(name.lower(), value) for name, value in request.headers.items() if _v4_signs(name.lower(), additional)]
    expected = signing.v4_signature(secret, request.method, bucket.name, key, params, headers, additional,
                                    request.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"), date_time,
                                    scope)
    _compare([expected], signature)
    return key_id


def _v4_signs(name: str, additional: list[str]) -> bool:
    return name.startswith("x-oss-") or name in ("content-type", "content-md5") or name in additional


# -- shared ---------------------------------------------------------------------------


def _secret(bucket: BucketConfig, key_id: str) -> str:
    secret = bucket.access_keys.get(key_id) if key_id else None
    if secret is None:
        raise InvalidAccessKeyId(f"the access key id {key_id!r} does not exist for bucket {bucket.name}")
    return secret


def _compare(expected: list[str], given: str) -> None:
    # Every candidate is compared, in constant time, so timing tells nothing about which came close.
    if not sum(hmac.compare_digest(candidate.encode(), given.encode()) for candidate in expected):
        raise SignatureDoesNotMatch("the request signature we calculated does not match the signature you "
                                    "provided; check your key and signing method")


def _check_skew(when: float, now: float) -> None:
    if abs(now - when) > MAX_SKEW:
        raise RequestTimeTooSkewed("the difference between the request time and the server's time is too large")


def _http_date(text: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        raise AccessDenied("a signed request needs a valid Date (or x-oss-date) header") from None


def _iso_date(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise AccessDenied("x-oss-date must be a UTC time as 20250417T053424Z") from None
