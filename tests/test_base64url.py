"""edge.base64url: URL-safe base64 as OSS parameters write it."""

import pytest

from edge import base64url


@pytest.mark.parametrize("text", ["", "a", "ab", "abc", "图片 ✓", "logo.png?x-oss-process=image/resize,P_30"])
def test_encode_decode_round_trip_without_padding(text):
    encoded = base64url.encode(text)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert base64url.decode(encoded).decode() == text
    assert base64url.decode(encoded + "=" * (-len(encoded) % 4)).decode() == text


@pytest.mark.parametrize("text", ["a+b", "a/b", "abc!", "a", "abcde", "ab===", " ab"])
def test_what_is_not_url_safe_base64_is_a_value_error(text):
    with pytest.raises(ValueError):
        base64url.decode(text)
