"""The body of `POST /tasks/visual/scale`, read into a `ScaleOrder`.

Bodies: multipart/form-data (the image as the file part `image_file`),
application/x-www-form-urlencoded or application/json. Fields: `type` (clean|face,
required), `scale_factor` (1|2|4, empty or absent for the automatic rule),
`return_type` (1: a link, the default; 2: base64) and exactly one image: `image_url`,
`image_file` or `image_base64` (a data: URI prefix is allowed). Unknown fields are
ignored. Everything is read with a cap, whatever Content-Length says.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import re
from base64 import b64decode
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from edge.streams import chunks, read_capped
from edge.upscale.errors import BadParameter, UploadTooLarge
from edge.upscale.rules import FACTORS, MAX_BYTES, MAX_URL

TREATMENTS = ("clean", "face")  # the API's `type`
RETURN_TYPES = (1, 2)  # 1: a link to the result, 2: the result in base64
_FIELD_BYTES = 4096                         # any field but the image
_BASE64_BYTES = 4 * -(-MAX_BYTES // 3) + 256  # a 15 MB image in base64, with a data: prefix
_BODY_BYTES = _BASE64_BYTES + 64 * 1024      # a whole form or JSON body
_DATA_URI = re.compile(r"^data:[\w.+/-]*;base64,")


@dataclass(frozen=True)
class ScaleOrder:
    treatment: str
    asked_factor: int | None
    return_type: int
    image_url: str = ""
    upload: bytes = b""
    upload_problem: str = ""  # why the uploaded image is unusable (state -2), "" when it is fine


async def read_order(request: web.Request) -> ScaleOrder:
    """The order in `request`'s body. Raises BadParameter (400) for a missing or wrong field or an
    unreadable body, UploadTooLarge (413) for an image or body over the seed's 15 MB."""
    if (request.content_length or 0) > _BODY_BYTES:
        raise UploadTooLarge(f"the request body is {request.content_length} bytes; the image may be at most "
                             f"{MAX_BYTES} bytes (15 MB)")
    try:
        if request.content_type == "multipart/form-data":
            fields, upload = await _multipart(request)
        elif request.content_type == "application/x-www-form-urlencoded":
            fields, upload = _form(await _read(request.content, _BODY_BYTES)), None
        elif request.content_type == "application/json":
            fields, upload = _json(await _read(request.content, _BODY_BYTES)), None
        else:
            raise BadParameter("the body must be multipart/form-data, application/x-www-form-urlencoded "
                               "or application/json")
    except (ValueError, RuntimeError, aiohttp.ClientPayloadError, HttpProcessingError):
        raise BadParameter("the request body could not be read (it is malformed or was cut short)") from None
    return _order(fields, upload)


def _order(fields: dict[str, str], upload: bytes | None) -> ScaleOrder:
    treatment = fields.get("type", "")
    if treatment not in TREATMENTS:
        raise BadParameter(f"type must be clean or face (got {treatment[:20]!r})" if treatment else "type is required")
    factor = fields.get("scale_factor", "")
    if factor and factor not in {str(f) for f in FACTORS}:
        raise BadParameter(f"scale_factor must be 1, 2, 4 or empty (got {factor[:20]!r})")
    return_type = fields.get("return_type", "") or "1"
    if return_type not in {str(r) for r in RETURN_TYPES}:
        raise BadParameter(f"return_type must be 1 (a link) or 2 (base64) (got {return_type[:20]!r})")
    url, encoded = fields.get("image_url", ""), fields.get("image_base64", "")
    if [bool(url), upload is not None, bool(encoded)].count(True) != 1:
        raise BadParameter("send exactly one image: image_url, image_file or image_base64")
    order = ScaleOrder(treatment, int(factor) if factor else None, int(return_type))
    if url:
        _check_url(url)
        return dataclasses.replace(order, image_url=url)
    data, problem = _decode(encoded) if encoded else (upload, "" if upload else "the uploaded image_file is empty")
    return dataclasses.replace(order, upload=data, upload_problem=problem)


def _check_url(url: str) -> None:
    if len(url) > MAX_URL:
        raise BadParameter(f"image_url is {len(url)} characters; at most {MAX_URL}")
    try:
        parsed = URL(url)
    except ValueError:
        raise BadParameter("image_url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadParameter("image_url must be an http:// or https:// URL with a host")


def _decode(encoded: str) -> tuple[bytes, str]:
    """(image bytes, "") or (b"", why the base64 is unusable); UploadTooLarge past MAX_BYTES."""
    # Line breaks are legal in MIME base64; a space is a "+" that the form encoding lost.
    text = re.sub(r"[\r\n\t]", "", _DATA_URI.sub("", encoded.strip(), count=1)).replace(" ", "+")
    try:
        data = b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b"", "image_base64 is not valid base64"
    if len(data) > MAX_BYTES:
        raise UploadTooLarge(f"image_base64 holds {len(data)} bytes; at most {MAX_BYTES} (15 MB)")
    return data, "" if data else "image_base64 is empty"


async def _multipart(request: web.Request) -> tuple[dict[str, str], bytes | None]:
    fields: dict[str, str] = {}
    upload = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            raise BadParameter("nested multipart bodies are not accepted")
        if part.name == "image_file":
            upload = await _read(part, MAX_BYTES)
        else:
            limit = _BASE64_BYTES if part.name == "image_base64" else _FIELD_BYTES
            fields[part.name or ""] = (await _read(part, limit, part.name)).decode("utf-8", "replace")
    return fields, upload


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))


def _json(body: bytes) -> dict[str, str]:
    document = json.loads(body)
    if not isinstance(document, dict):
        raise BadParameter("the JSON body must be an object")
    # Numbers are as good as their text (scale_factor 2 or "2"); null is an absent field.
    return {key: "" if value is None else str(value) for key, value in document.items()
            if not isinstance(value, (dict, list))}


async def _read(stream, limit: int, field: str | None = None) -> bytes:
    """All of `stream` (a request body or a multipart part), refused past `limit` bytes: 413 for the
    image or the body, 400 for another field."""
    if field in (None, "image_base64"):
        too_large = partial(UploadTooLarge, f"the image is more than {MAX_BYTES} bytes (15 MB)")
    else:
        too_large = partial(BadParameter, f"the field {field!r} is more than {limit} bytes")
    read = stream.read_chunk if isinstance(stream, aiohttp.BodyPartReader) else stream.read
    return await read_capped(chunks(read), limit, too_large)
