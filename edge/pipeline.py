"""The canonical process language: typed operations, their registry, and `Pipeline`.

Every dialect (x-oss-process, styles, the legacy `@` API, imageMogr2 ...) ends
in a `Pipeline`. `Pipeline.canonical()` is the one spelling of a rendition:
parameters in a fixed order, defaults dropped, aliases folded, and settings
that act on the whole image (auto-orient, format, quality, interlace) placed
once, in a fixed position, with the last one asked winning. So
`parse(p.canonical()) == p`, and two URLs that ask for the same pixels share
one cache entry.

Grammar (OSS): `image/<action>[,<k>_<v> | ,<value>]*[/<action>...]`; `|` chains
such strings (`image/resize,w_100|image/rotate,90`), which run in order as one
pipeline, at most MAX_PIPES of them (OSS manual 2.7: "管道目前限制在4个"); a
POST may end the chain in `|sys/saveas,o_<b64 key>[,b_<b64 bucket>]`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Iterable

from edge import cost
from edge.errors import InvalidArgument, TooManyPipe, WatermarkError
from edge.params import Param, Params, declared

if TYPE_CHECKING:
    from edge.config import Limits
    from edge.frames import Frames, RenderContext

MAX_PROCESS_LENGTH = 4096
MAX_PIPES = 4
_SAVEAS = "sys/saveas,"
# Other objects one pipeline may read (watermark images): "at most 3 different watermark images" (OSS).
MAX_INPUTS = 3


class Operation:
    """One step of a pipeline: a frozen dataclass of validated parameters.

    Subclasses declare each parameter once, on its field (edge.params), and
    implement `apply`; `@operation` sets `name` (the OSS action) and `stage`.
    Parsing, the canonical spelling and the no-op test follow from the
    declarations; an operation with rules across parameters (resize: p
    excludes w) overrides `parse` and builds on `read`. Stages: "pixels" steps
    run in the order asked; "decode" and "encode" steps are settings for the
    whole image (the last one of each name wins, wherever it stands in the URL).
    """

    name: ClassVar[str]
    stage: ClassVar[str] = "pixels"
    medium: ClassVar[str] = "image"  # what the action acts on, the process type: image or video
    PARAMETERS: ClassVar[tuple[Param, ...]] = ()

    @classmethod
    def parameters(cls) -> tuple[Param, ...]:
        """The declared parameters, in parse and canonical order (see edge.params.Param.describe)."""
        return cls.PARAMETERS

    @classmethod
    def read(cls, params: Params) -> dict:
        """The declared parameters' values from `params`, by field name; raises naming a bad one."""
        return {param.name: param.take(params) for param in cls.PARAMETERS}

    @classmethod
    def parse(cls, params: Params) -> "Operation":
        """Build the operation from its parameters; raise `InvalidArgument` naming a bad one."""
        return cls(**cls.read(params))

    def spell(self, *names: str) -> list[str]:
        """The canonical tokens of the parameters `names` (all, when none are named), defaults left out."""
        chosen = [p for p in self.PARAMETERS if p.name in names] if names else self.PARAMETERS
        tokens = (param.spell(getattr(self, param.name)) for param in chosen)
        return [token for token in tokens if token is not None]

    def canonical_params(self) -> list[str]:
        """The parameters in canonical order, defaults left out (`["m_fill", "w_100"]`)."""
        return self.spell()

    def canonical(self) -> str:
        return ",".join([self.name, *self.canonical_params()])

    def apply(self, frames: "Frames", ctx: "RenderContext") -> "Frames":
        """Transform every frame (or set an output setting on `ctx`); pure apart from `ctx`."""
        raise NotImplementedError

    def is_noop(self) -> bool:
        """True when the operation changes nothing: it declares parameters with a `noop` value,
        and each holds it."""
        noops = [p for p in self.PARAMETERS if p.has_noop]
        return bool(noops) and all(getattr(self, p.name) == p.noop for p in noops)

    def is_negotiated(self) -> bool:
        """True when the request's Accept header chooses what this setting sets (`format,auto`):
        edge.negotiation replaces the step before the rendition is looked up."""
        return False

    def before_decode(self, ctx: "RenderContext") -> None:
        """Tell the decoder, through `ctx`, what this step needs of it (a video snapshot: the frame's
        time). Whole-image settings do this in `apply`, which runs before the decode."""

    def draft_size(self, width: int, height: int, ctx: "RenderContext") -> tuple[int, int] | None:
        """The smallest decode size this step needs from a `width` x `height` source, if it shrinks."""
        return None

    def inputs(self) -> tuple[str, ...]:
        """Keys of other objects of the same bucket this step reads (a watermark image)."""
        return ()

    def on_gpu(self) -> "GpuStep | str":
        """What the GPU path (edge.gpu) does for this step, or why it cannot (a sentence; the CPU then
        makes the rendition). Decided by the parameters alone, never by the image, so routing is pure.
        The default: the step runs on the CPU."""
        return f"{self.name} runs on the CPU"

    def work(self, width: int, height: int, limits: "Limits") -> tuple[tuple[int, int], float] | None:
        """(the largest size this step can make of a `width` x `height` frame, its work on that
        frame in nanoseconds of one core): what edge.cost adds up before a render; None when the
        step will refuse that input before any work (ImageTooLarge). The default is a cheap pass
        that keeps the size; a step that costs more, or grows the image, says so."""
        return (width, height), width * height * cost.PASS_NS


# What a step asks of the GPU path (Operation.on_gpu), which edge.gpu.render plans on the host.

@dataclass(frozen=True)
class GpuSetting:
    """No pixel work: the step only sets how the image is decoded or encoded (its `apply` does so)."""


@dataclass(frozen=True)
class GpuScale:
    """Resample to what `plan(width, height)` gives, (scaled, final) or None for no change; where
    `final` is smaller than `scaled`, the centre `final` of the scaled image is kept."""

    plan: Callable[[int, int], tuple[tuple[int, int], tuple[int, int]] | None]


@dataclass(frozen=True)
class GpuCut:
    """Keep the region `box(width, height)` gives, (left, top, right, bottom); it raises as `apply` would."""

    box: Callable[[int, int], tuple[int, int, int, int]]


@dataclass(frozen=True)
class GpuTurn:
    """Turn by a right angle, written as an EXIF orientation (3: 180 degrees, 6: 90 clockwise, 8: 270)."""

    orientation: int


GpuStep = GpuSetting | GpuScale | GpuCut | GpuTurn

OPERATIONS: dict[str, type[Operation]] = {}

_ENCODE_ORDER = ("format", "quality", "interlace")
MEDIA = ("image", "video")


def operation(name: str, *, stage: str = "pixels", medium: str = "image") -> Callable[[type], type]:
    """Class decorator: register a frozen-dataclass `Operation` under its OSS action name."""

    def register(cls: type) -> type:
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name!r} registered twice")
        cls.name = name
        cls.stage = stage
        cls.medium = medium
        cls.PARAMETERS = declared(cls)
        OPERATIONS[name] = cls
        return cls

    return register


@dataclass(frozen=True)
class Pipeline:
    """An ordered, normalised list of operations; build it with `Pipeline.of` or `Pipeline.parse`."""

    steps: tuple[Operation, ...]
    medium: str = "image"

    @classmethod
    def of(cls, steps: Iterable[Operation], medium: str = "image") -> "Pipeline":
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
        pipeline = cls(tuple(sorted(decode, key=lambda s: s.name)) + tuple(pixels) + tuple(encode), medium)
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
        medium, _, rest = text.partition("/")
        if medium not in MEDIA:
            raise InvalidArgument(f"x-oss-process: unsupported process type {medium!r} (expected image/... or video/...)")
        steps = []
        for part in rest.split("/"):
            if not part:
                continue
            action, *tokens = part.split(",")
            op_class = OPERATIONS.get(action)
            if op_class is None or op_class.medium != medium:
                raise InvalidArgument(f"x-oss-process: unknown {medium} action {action!r}")
            params = Params(action, tokens)
            op = op_class.parse(params)
            params.finish()
            steps.append(op)
        if medium == "video" and len(steps) != 1:
            raise InvalidArgument("x-oss-process: a video process is exactly one snapshot action")
        return cls.of(steps, medium)

    @functools.cached_property
    def _canonical(self) -> str:
        return "/".join([self.medium, *(step.canonical() for step in self.steps)])

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


def split_saveas(process: str) -> tuple[str, str | None]:
    """(process, saveas parameters or None) of `image/...|sys/saveas,o_..,b_..`."""
    head, bar, tail = process.rpartition("|")
    if bar and tail.startswith(_SAVEAS):
        return head, tail[len(_SAVEAS):]
    return process, None


def piped(process: str) -> Pipeline:
    """The pipeline of `process`, whose `|`-chained parts (at most MAX_PIPES) run one after another."""
    parts = process.split("|")
    if len(parts) > MAX_PIPES:
        raise TooManyPipe(f"x-oss-process chains {len(parts)} parts with '|'; at most {MAX_PIPES} are allowed")
    if len(parts) == 1:
        return Pipeline.parse(process)
    pipelines = [Pipeline.parse(part) for part in parts]
    if any(p.medium != "image" for p in pipelines):
        raise InvalidArgument("x-oss-process: only image/... parts can be chained with '|'")
    return Pipeline.of([step for p in pipelines for step in p.steps])
