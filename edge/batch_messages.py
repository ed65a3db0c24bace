"""What a batch job sends before its answer: one message per rendition as it is made, and the order
it makes them in (edge.jobs describes the jobs; edge.render and edge.gpu.render send these). Their
own module, so that the renderers, which edge.jobs imports, import no edge.jobs back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from edge.errors import OssError


@dataclass(frozen=True)
class ItemMade:
    """Job `index` of a batch made its rendition: `meta` is its {"content_type", "format", "width",
    "height", "frames"}, and its body is `length` bytes."""

    index: int
    meta: dict
    length: int
    status: ClassVar[str] = "ok"


@dataclass(frozen=True)
class ItemFailed:
    """Job `index` of a batch failed with `error` (its request's answer)."""

    index: int
    error: OssError
    status: ClassVar[str] = "error"


BatchItem = ItemMade | ItemFailed


@dataclass(frozen=True)
class BatchOrder:
    """The order a batch makes its jobs in (cheapest first), as their indices: when its worker dies,
    the job it was making is the first of them not yet answered."""

    indices: tuple[int, ...]
