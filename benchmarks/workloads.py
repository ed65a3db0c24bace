"""The workloads, described once and independently of any server.

Contract: ``WORKLOADS`` is an ordered list of ``Workload``.  Each holds the
neutral ``Op``s it rotates over; every server turns an ``Op`` into its own
URL (peers.py), and ``Op.expect`` says what a correct answer looks like
(check.py).  A workload with ``cache=True`` runs against a server started
with its rendition cache on; all others run with it off, so every request
is a full decode-resize-encode.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus import COPIES, FRAME_DURATIONS_MS, SINGLE_SOURCES, W7_COUNT, copy_key

# Source sizes, needed to predict the output height of a width-only resize.
SOURCES = {"w1.jpg": (4000, 3000), "w2.jpg": (1920, 1080), "w3.png": (1024, 1024), "w4.gif": (480, 270)}
SOURCES.update({f"w7/src_{i:02d}.jpg": (4000, 3000) for i in range(W7_COUNT)})
SOURCES.update({copy_key(k, i): SOURCES[k] for k in SINGLE_SOURCES for i in range(COPIES)})
W7_WIDTHS = (320, 640, 960, 1280, 1600, 1920)


@dataclass(frozen=True)
class Expect:
    """What a correct response is: Pillow format name, size, and extras."""

    fmt: str
    width: int
    height: int
    frames: int = 1
    alpha: bool = False
    durations_ms: tuple[int, ...] = ()


@dataclass(frozen=True)
class Op:
    """Resize ``key`` to ``width`` (and ``height`` = fit inside the box),
    re-encode as ``fmt`` (None = keep the source format) at ``quality``."""

    key: str
    width: int
    height: int | None = None
    fmt: str | None = None
    quality: int | None = None

    def expect(self) -> Expect:
        sw, sh = SOURCES[self.key]
        scale = self.width / sw if self.height is None else min(self.width / sw, self.height / sh)
        pil_fmt = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG", "heic": "HEIF", "avif": "AVIF", None: None}[self.fmt]
        if pil_fmt is None:
            pil_fmt = {"jpg": "JPEG", "png": "PNG", "gif": "GIF"}[self.key.rsplit(".", 1)[1]]
        animated = self.key.endswith(".gif") and pil_fmt == "GIF"
        return Expect(
            fmt=pil_fmt,
            width=round(sw * scale),
            height=round(sh * scale),
            frames=len(FRAME_DURATIONS_MS) if animated else 1,
            alpha=self.key.endswith(".png") and pil_fmt in {"PNG", "WEBP"},
            durations_ms=tuple(FRAME_DURATIONS_MS) if animated else (),
        )


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    ops: tuple[Op, ...]
    connections: int
    cache: bool = False
    # Name of the floor.py measurement that bounds this workload, if any.
    floor: str | None = None


def over_copies(op: Op) -> tuple[Op, ...]:
    """The same operation on each hard-linked copy of its source (corpus.py
    says why: a cache miss must not be coalesced with a concurrent one)."""
    return tuple(Op(copy_key(op.key, i), op.width, op.height, op.fmt, op.quality) for i in range(COPIES))


W1_OP = Op("w1.jpg", 300, fmt="jpg", quality=80)
W2_BASE = dict(key="w2.jpg", width=800, quality=80)

WORKLOADS = [
    Workload("W1", "4000x3000 JPEG -> 300w JPEG q80", over_copies(W1_OP), 4, floor="W1"),
    Workload("W2", "1920x1080 JPEG -> 800w WebP q80", over_copies(Op(fmt="webp", **W2_BASE)), 4, floor="W2"),
    Workload("W3", "1024x1024 RGBA PNG -> 256x256 PNG", over_copies(Op("w3.png", 256, 256, fmt="png")), 4,
             floor="W3"),
    Workload("W4", "480x270 20-frame GIF -> 200w animated GIF", over_copies(Op("w4.gif", 200)), 4, floor="W4"),
    # W1 on one URL: with 4 identical misses in flight a server may render
    # once for all of them (coalescing); compare with W1 to see the effect.
    Workload("W1-same", "W1 on a single URL (concurrent misses may coalesce)", (W1_OP,), 4, floor="W1"),
    Workload("W5", "cache hit: the W1 rendition again", (W1_OP,), 64, cache=True),
    Workload("W6-heic", "1920x1080 JPEG -> 800w HEIC q80", over_copies(Op(fmt="heic", **W2_BASE)), 4,
             floor="W6-heic"),
    Workload("W6-avif", "1920x1080 JPEG -> 800w AVIF q80", over_copies(Op(fmt="avif", **W2_BASE)), 4,
             floor="W6-avif"),
    Workload(
        "W7",
        "responsive burst: 20 x 4000x3000 JPEG -> 6 widths JPEG q80, all misses",
        tuple(Op(f"w7/src_{i:02d}.jpg", w, fmt="jpg", quality=80) for i in range(W7_COUNT) for w in W7_WIDTHS),
        8,
        floor="W7",
    ),
]


def select(only: list[str] | None) -> list[Workload]:
    """Workloads whose id is in ``only`` ("W6" selects both W6 variants,
    "W1" also W1-same)."""
    if not only:
        return list(WORKLOADS)
    wanted = {o.strip().upper() for o in only}
    picked = [w for w in WORKLOADS if w.id.upper() in wanted or w.id.split("-")[0].upper() in wanted]
    unknown = wanted - {w.id.upper() for w in picked} - {w.id.split("-")[0].upper() for w in picked}
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
    return picked
