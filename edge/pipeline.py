"""The canonical process language: typed operations, their registry, and `Pipeline`.

Every dialect (x-oss-process, styles, the legacy `@` API, imageMogr2 ...) ends
in a `Pipeline`. `Pipeline.canonical()` is the one spelling of a rendition:
parameters in a fixed order, defaults dropped, aliases folded, and settings
that act on the whole image (auto-orient, format, quality, interlace) placed
once, in a fixed position, with the last one asked winning. So
`parse(p.canonical()) == p`, and two URLs that ask for the same pixels share
one cache entry.

Grammar (OSS): `image/<action>[,<k>_<v> | ,<value>]*[/<action>...]`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Iterable

from edge import cost
from edge.errors import InvalidArgument, MissingArgument, WatermarkError

if TYPE_CHECKING:
    from edge.config import Limits
    from edge.frames import Frames, RenderContext

MAX_PROCESS_LENGTH = 4096
# Other objects one pipeline may read (watermark images): "at most 3 different watermark images" (OSS).
MAX_INPUTS = 3


def is_hex_colour(text: str) -> bool:
    """Whether `text` is a colour as OSS parameters write it: RRGGBB in hex, either case."""
    return len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text)


class Operation:
    """One step of a pipeline: a frozen dataclass of validated parameters.

    Subclasses set `name` (the OSS action), `stage` and implement `parse`,
    `canonical_params` and `apply`. Stages: "pixels" steps run in the order
    asked; "decode" and "encode" steps are settings for the whole image (the
    last one of each name wins, wherever it stands in the URL).
    """

    name: ClassVar[str]
    stage: ClassVar[str] = "pixels"
    kind: ClassVar[str] = "image"  # the x-oss-process type the action belongs to: image or video

    @classmethod
    def parse(cls, params: "Params") -> "Operation":
        """Build the operation from its parameters; raise `InvalidArgument` naming a bad one."""
        raise NotImplementedError

    def canonical_params(self) -> list[str]:
        """The parameters in canonical order, defaults left out (`["m_fill", "w_100"]`)."""
        raise NotImplementedError

    def canonical(self) -> str:
        return ",".join([self.name, *self.canonical_params()])

    def apply(self, frames: "Frames", ctx: "RenderContext") -> "Frames":
        """Transform every frame (or set an output setting on `ctx`); pure apart from `ctx`."""
        raise NotImplementedError

    def is_noop(self) -> bool:
        """True when the operation, as parameterised, is the default and can be dropped."""
        return False

    def draft_size(self, width: int, height: int, ctx: "RenderContext") -> tuple[int, int] | None:
        """The smallest decode size this step needs from a `width` x `height` source, if it shrinks."""
        return None

    def inputs(self) -> tuple[str, ...]:
        """Keys of other objects of the same bucket this step reads (a watermark image)."""
        return ()

    def work(self, width: int, height: int, limits: "Limits") -> tuple[tuple[int, int], float] | None:
        """(the largest size this step can make of a `width` x `height` frame, its work on that
        frame in nanoseconds of one core): what edge.cost adds up before a render; None when the
        step will refuse that input before any work (ImageTooLarge). The default is a cheap pass
        that keeps the size; a step that costs more, or grows the image, says so."""
        return (width, height), width * height * cost.PASS_NS


OPERATIONS: dict[str, type[Operation]] = {}

_ENCODE_ORDER = ("format", "quality", "interlace")
KINDS = ("image", "video")


def operation(name: str, *, stage: str = "pixels", kind: str = "image") -> Callable[[type], type]:
    """Class decorator: register a frozen-dataclass `Operation` under its OSS action name."""

    def register(cls: type) -> type:
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name!r} registered twice")
        cls.name = name
        cls.stage = stage
        cls.kind = kind
        OPERATIONS[name] = cls
        return cls

    return register


class Params:
    """The parameters of one action (`w_100`, `m_fill`, or a bare `90`), consumed by name.

    Each accessor validates and removes its parameter; `finish()` then rejects
    whatever is left, so an unknown parameter is always an error that names it.
    """

    def __init__(self, action: str, tokens: Iterable[str]) -> None:
        self.action = action
        self.named: dict[str, str] = {}
        self.bare: list[str] = []
        for token in tokens:
            if token == "":
                continue
            key, sep, value = token.partition("_")
            if not sep:
                self.bare.append(token)
                continue
            if key in self.named:
                raise InvalidArgument(f"{action}: parameter {key} is given twice")
            self.named[key] = value

    def _take(self, key: str) -> str | None:
        return self.named.pop(key, None)

    def text(self, key: str) -> str | None:
        """The parameter `key` as given (for values the operation decodes itself), or None when absent."""
        return self._take(key)

    def int(self, key: str, low: int, high: int, default: int | None = None, required: bool = False) -> int | None:
        """The integer parameter `key` in [low, high], or `default` when absent (MissingArgument if `required`)."""
        text = self._take(key)
        if text is None:
            if required:
                raise MissingArgument(f"{self.action}: {key} is required")
            return default
        return bounded_int(f"{self.action}: {key}", text, low, high)

    def choice(self, key: str, options: Iterable[str], default: str | None = None,
               aliases: dict[str, str] | None = None) -> str | None:
        """The parameter `key`, one of `options` (case-insensitive), or `default` when absent."""
        text = self._take(key)
        if text is None:
            return default
        value = text.lower()
        value = (aliases or {}).get(value, value)
        if value not in options:
            raise InvalidArgument(
                f"{self.action}: {key}_{text} is not one of {', '.join(options)}")
        return value

    def color(self, key: str, default: str) -> str:
        """A six-digit hex colour (`FF0000`), upper-cased, or `default` when absent."""
        text = self._take(key)
        if text is None:
            return default
        if not is_hex_colour(text):
            raise InvalidArgument(f"{self.action}: {key}_{text} is not a hex colour RRGGBB")
        return text.upper()

    def value(self, what: str, low: int | None = None, high: int | None = None) -> str:
        """The single bare value of actions like `rotate,90` (checked as an int when a range is given)."""
        if not self.bare:
            raise MissingArgument(f"{self.action}: missing {what}")
        if len(self.bare) > 1:
            raise InvalidArgument(f"{self.action}: expects one value, got {','.join(self.bare)}")
        text = self.bare.pop()
        if low is not None and high is not None:
            bounded_int(f"{self.action}: {what}", text, low, high)
        return text

    def finish(self) -> None:
        """Reject any parameter nobody consumed."""
        for key, value in self.named.items():
            raise InvalidArgument(f"{self.action}: unknown parameter {key} (in {key}_{value})")
        for value in self.bare:
            raise InvalidArgument(f"{self.action}: unexpected value {value}")


def bounded_int(label: str, text: str, low: int, high: int) -> int:
    """`text` as an integer in [low, high]; InvalidArgument starting with `label` ("resize: w") otherwise."""
    if not text.isdigit() or len(text) > 9:
        raise InvalidArgument(f"{label} must be an integer in [{low}, {high}], got {text!r}")
    number = int(text)
    if not low <= number <= high:
        raise InvalidArgument(f"{label} must be in [{low}, {high}], got {number}")
    return number


@dataclass(frozen=True)
class Pipeline:
    """An ordered, normalised list of operations; build it with `Pipeline.of` or `Pipeline.parse`."""

    steps: tuple[Operation, ...]
    kind: str = "image"

    @classmethod
    def of(cls, steps: Iterable[Operation], kind: str = "image") -> "Pipeline":
        """Normalise: pixel steps in order, the last setting of each kind, nothing that is a no-op."""
        pixels: list[Operation] = []
        settings: dict[str, Operation] = {}
        steps = list(steps)
        cost.actions_check(sum(1 for step in steps if step.stage == "pixels"))
        for step in steps:
            if step.stage == "pixels":
                if not step.is_noop():
                    pixels.append(step)
            else:
                settings[step.name] = step
        decode = [s for s in settings.values() if s.stage == "decode" and not s.is_noop()]
        encode = [settings[n] for n in _ENCODE_ORDER if n in settings and not settings[n].is_noop()]
        encode += [s for n, s in settings.items()
                   if s.stage == "encode" and n not in _ENCODE_ORDER and not s.is_noop()]
        pipeline = cls(tuple(sorted(decode, key=lambda s: s.name)) + tuple(pixels) + tuple(encode), kind)
        keys = pipeline.inputs()
        if len(keys) > MAX_INPUTS:
            raise WatermarkError(f"watermark: at most {MAX_INPUTS} different watermark images per image, "
                                 f"got {len(keys)} ({', '.join(sorted(keys))})")
        return pipeline

    @classmethod
    def parse(cls, text: str) -> "Pipeline":
        """Parse `image/<action>,...[/<action>...]`; raise `InvalidArgument` naming what is wrong.

        Pipelines are immutable, so the parse of a hot URL is remembered.
        """
        return _parse(text)

    @classmethod
    def _parse_uncached(cls, text: str) -> "Pipeline":
        if len(text) > MAX_PROCESS_LENGTH:
            raise InvalidArgument(f"x-oss-process is longer than {MAX_PROCESS_LENGTH} characters")
        kind, _, rest = text.partition("/")
        if kind not in KINDS:
            raise InvalidArgument(f"x-oss-process: unsupported process type {kind!r} (expected image/... or video/...)")
        steps = []
        for part in rest.split("/"):
            if not part:
                continue
            action, *tokens = part.split(",")
            op_class = OPERATIONS.get(action)
            if op_class is None or op_class.kind != kind:
                raise InvalidArgument(f"x-oss-process: unknown {kind} action {action!r}")
            params = Params(action, tokens)
            op = op_class.parse(params)
            params.finish()
            steps.append(op)
        if kind == "video" and len(steps) != 1:
            raise InvalidArgument("x-oss-process: a video process is exactly one snapshot action")
        return cls.of(steps, kind)

    @functools.cached_property
    def _canonical(self) -> str:
        return "/".join([self.kind, *(step.canonical() for step in self.steps)])

    def canonical(self) -> str:
        """The one spelling of this pipeline: `image/<op>/<op>...` (or `video/snapshot,...`)."""
        return self._canonical

    def setting(self, name: str) -> Operation | None:
        """The whole-image setting `name` (e.g. "format"), if the pipeline has one."""
        for step in self.steps:
            if step.name == name and step.stage != "pixels":
                return step
        return None

    def pixel_steps(self) -> tuple[Operation, ...]:
        return tuple(s for s in self.steps if s.stage == "pixels")

    def inputs(self) -> tuple[str, ...]:
        """The distinct keys of the other objects the steps read, in first-use order."""
        return tuple(dict.fromkeys(key for step in self.steps for key in step.inputs()))


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Pipeline:
    return Pipeline._parse_uncached(text)
