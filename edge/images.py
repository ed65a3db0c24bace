"""One way to open an image nobody vouches for (an original, a watermark, an upload).

Pillow reads the header only; nothing is decoded until a caller asks, after
it has checked the size the header claims. Whatever Pillow raises on bytes
that are not an image, or are corrupt or truncated, becomes the caller's own
error (an OssError for a rendition, an upscale task's failure), never a 500.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from typing import Callable, Iterator

from PIL import Image

from edge.codecs import READABLE

# We check sizes ourselves, from the header, with the configured limits.
Image.MAX_IMAGE_PIXELS = None
warnings.filterwarnings("ignore", module="PIL")

# What Pillow's decoders raise on corrupt or truncated bytes.
CORRUPT = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error,
           Image.DecompressionBombError)


def open_image(raw: bytes, not_an_image: Callable[[], Exception], corrupt: Callable[[], Exception],
               formats: tuple[str, ...] = READABLE) -> Image.Image:
    """`raw` opened lazily as one of `formats` (its header read, no pixel decoded). Raises
    `not_an_image()` when it is none of them, `corrupt()` when its header is broken."""
    with reading(corrupt):
        try:
            return Image.open(io.BytesIO(raw), formats=formats)
        except Image.UnidentifiedImageError:
            raise not_an_image() from None


@contextlib.contextmanager
def reading(corrupt: Callable[[], Exception]) -> Iterator[None]:
    """Within the block, what Pillow raises on corrupt or truncated bytes is raised as `corrupt()`."""
    try:
        yield
    except CORRUPT:
        raise corrupt() from None
