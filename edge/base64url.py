"""URL-safe base64 as OSS parameters write it (`watermark,text_<b64>`, `sys/saveas,o_<b64>`): the
`-_` alphabet, `=` padding optional."""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def encode(text: str) -> str:
    """`text` as UTF-8, in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(text: str) -> bytes:
    """The bytes `text` encodes, padded or not; ValueError when it is not URL-safe base64 (a character
    outside the alphabet, or a length no encoding has)."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError(f"not URL-safe base64: {text!r}")
    bare = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
