"""Gravity, placement on the nine-grid, and the sizes a request may ask: one home for each.

Every dialect and operation that anchors something (crop, watermark, the
legacy `rc` regions, imageMogr2's gravity) names the nine places the same
way and places through `place`, as imgproxy does with its one calcPosition.
"""

from __future__ import annotations

# The nine-grid, row by row from the top left: the OSS gravity names (and the legacy `rc` regions 1-9).
GRAVITIES = ("nw", "north", "ne", "west", "center", "east", "sw", "south", "se")

MAX_SIDE = 16384  # the largest w/h a request may ask for (current OSS); the target limits still apply
MAX_OFFSET = 30_000  # crop sizes and offsets: the largest source side; the real bound is the image
MAX_RADIUS = 4096  # circle and rounded-corners radii (the manual's range [1, 4096])
MAX_MARGIN = 4096  # a watermark's x/y margins


def column(gravity: str) -> int:
    """The grid column of `gravity`: 0 left, 1 middle, 2 right."""
    return GRAVITIES.index(gravity) % 3


def row(gravity: str) -> int:
    """The grid row of `gravity`: 0 top, 1 centre, 2 bottom."""
    return GRAVITIES.index(gravity) // 3


def place(gravity: str, whole: tuple[int, int], extent: tuple[int, int], margin: tuple[int, int],
          shift: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """The top-left corner, in pixels, of a box of `extent` anchored at `gravity` in `whole`.

    Along an anchored axis `margin` is the distance from that edge; along a
    centred axis the box is centred and moved by `shift` (right/down). The
    result may lie outside `whole`; callers clip or refuse.
    """
    return (_start(column(gravity), margin[0], shift[0], extent[0], whole[0]),
            _start(row(gravity), margin[1], shift[1], extent[1], whole[1]))


def _start(anchor: int, margin: int, shift: int, extent: int, whole: int) -> int:
    if anchor == 0:
        return margin
    if anchor == 2:
        return whole - extent - margin
    return (whole - extent) // 2 + shift
