"""OSS signatures, computed once for both sides: `edge.auth` checks requests with them and
`edge sign` makes signed URLs with them, byte for byte as the oss2 SDK's `Bucket.sign_url`.

V1 signs `VERB\\nContent-MD5\\nContent-Type\\nDate-or-Expires\\n<x-oss-* headers><resource>`
with HMAC-SHA1 (base64); V4 (OSS4-HMAC-SHA256) signs a canonical request under a key derived
from the secret, the day, the region, "oss" and "aliyun_v4_request" (hex).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_MAX_EXPIRES = 7 * 24 * 3600


def v1_signature(secret: str, method: str, content_md5: str, content_type: str, date: str,
                 oss_headers: list[tuple[str, str]], resource: str) -> str:
    """The V1 signature (base64 HMAC-SHA1) of a request; `oss_headers` are its x-oss-* headers
    (any case, any order), `resource` is `/<bucket>/<key>[?<subresources>]` unencoded."""
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted((n.lower(), v) for n, v in oss_headers))
    string_to_sign = "\n".join((method, content_md5, content_type, date, canonical + resource))
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()


def v1_resource(bucket: str, key: str, subresources: list[tuple[str, str]]) -> str:
    """`/<bucket>/<key>`, with the signed subresources (sorted by the caller) after a `?`."""
    resource = f"/{bucket}/{key}"
    if subresources:
        resource += "?" + "&".join(f"{name}={value}" if value else name for name, value in subresources)
    return resource


def v4_signature(secret: str, method: str, bucket: str, key: str, params, headers: list[tuple[str, str]],
                 additional: list[str], payload_hash: str, date_time: str, scope: str) -> str:
    """The V4 signature (hex HMAC-SHA256). `params` are the query's (name, value) pairs but the
    signature, `headers` the signed ones (lower-case names), `scope` `<day>/<region>/oss/aliyun_v4_request`."""
    query = sorted((v4_quote(name), v4_quote(value)) for name, value in params)
    canonical_request = "\n".join((
        method,
        v4_quote(f"/{bucket}/{key}", safe="/"),
        "&".join(f"{name}={value}" if value else name for name, value in query),
        "".join(f"{name}:{value}\n" for name, value in sorted(headers)),
        ";".join(sorted(additional)),
        payload_hash,
    ))
    string_to_sign = "\n".join((V4_ALGORITHM, date_time, scope, hashlib.sha256(canonical_request.encode()).hexdigest()))
    signing_key = ("aliyun_v4" + secret).encode()
    for part in scope.split("/"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def v4_quote(text: str, safe: str = "") -> str:
    """RFC 3986: unreserved characters stay; everything else, UTF-8 encoded, becomes %XX."""
    return quote(text, safe=safe + "-_.~")


def sign_url(endpoint: str, bucket: str, key: str, key_id: str, secret: str, expires: int,
             version: str = "v1", process: str = "", region: str = "cn-hangzhou", cname: bool = False,
             now: float | None = None) -> str:
    """A signed GET URL for `key` in `bucket`, valid `expires` seconds from `now` (default: the
    clock), exactly as oss2's `Bucket(auth, endpoint, bucket, region=region, is_cname=cname)
    .sign_url("GET", key, expires, params={"x-oss-process": process})` makes it (its `/` in a
    key is %2F). An IP or localhost endpoint is addressed by path, `/<bucket>/<key>`, as oss2
    does; so is any other host unless `cname` (the host is bound to the bucket: `/<key>`).

    Raises ValueError for an empty key, a version other than v1/v4, or an expiry out of range
    (V1: > 0 seconds; V4: 1..604800).
    """
    if not key:
        raise ValueError("the object key is empty")
    now = time.time() if now is None else now
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the endpoint {endpoint!r} is not http(s)://host[:port]")
    path = quote(key, safe="")
    base = (f"{parts.scheme}://{parts.netloc}/{path}" if cname and not _is_ip_or_localhost(parts.netloc)
            else f"{parts.scheme}://{parts.netloc}/{bucket}/{path}")
    params = {"x-oss-process": process} if process else {}
    if version == "v1":
        if expires <= 0:
            raise ValueError("expires must be > 0 seconds")
        expiry = str(int(now) + expires)
        resource = v1_resource(bucket, key, sorted(params.items()))
        params.update(OSSAccessKeyId=key_id, Expires=expiry,
                      Signature=v1_signature(secret, "GET", "", "", expiry, [], resource))
    elif version == "v4":
        if not 0 < expires <= V4_MAX_EXPIRES:
            raise ValueError(f"expires must be 1..{V4_MAX_EXPIRES} seconds for V4")
        date_time = datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        scope = f"{date_time[:8]}/{region}/oss/aliyun_v4_request"
        params.update({"x-oss-date": date_time, "x-oss-expires": str(expires),
                       "x-oss-signature-version": V4_ALGORITHM, "x-oss-credential": f"{key_id}/{scope}"})
        params["x-oss-signature"] = v4_signature(secret, "GET", bucket, key, params.items(), [], [],
                                                 "UNSIGNED-PAYLOAD", date_time, scope)
    else:
        raise ValueError(f"the signature version {version!r} is not v1 or v4")
    return base + "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" if v else quote(k, safe="")
                                 for k, v in params.items())


def _is_ip_or_localhost(netloc: str) -> bool:
    host = netloc[1:netloc.find("]")] if netloc.startswith("[") else netloc.split(":")[0]
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
