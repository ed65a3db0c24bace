"""Parameters of the process language, each declared once.

An operation declares every parameter on its dataclass field, as weserv's
query tables and thumbor's `@filter_method` do:

    w: int = integer(0, 30_000, default=0, noop=0)
    g: str = choice(GRAVITIES, default="nw")
    degrees: int = bare_integer("the angle (0-360)", 0, 360, modulo=360, noop=0)

The name is the field's, the default the field's (a field without one is
required). From the declarations `Operation` derives parsing (`read`), the
canonical spelling (`spell`: defaults left out) and the no-op test (every
parameter that declares a `noop` value holds it). `Param.describe()` states
a parameter for tools that build forms from it (a console).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from edge.errors import InvalidArgument, MissingArgument

_SIGNED = re.compile(r"-?[0-9]{1,4}")


class _Unset:
    """No value declared (a required parameter's default, a parameter without a no-op value)."""

    def __repr__(self) -> str:
        return "unset"


_UNSET: Any = _Unset()


def is_hex_colour(text: str) -> bool:
    """Whether `text` is a colour as OSS parameters write it: RRGGBB in hex, either case."""
    return len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text)


def bounded_int(label: str, text: str, low: int, high: int) -> int:
    """`text` as an integer in [low, high]; InvalidArgument starting with `label` ("resize: w") otherwise."""
    if not text.isdigit() or len(text) > 9:
        raise InvalidArgument(f"{label} must be an integer in [{low}, {high}], got {text!r}")
    number = int(text)
    if not low <= number <= high:
        raise InvalidArgument(f"{label} must be in [{low}, {high}], got {number}")
    return number


def signed_int(label: str, text: str, low: int, high: int) -> int:
    """`text` as a possibly negative integer in [low, high]; InvalidArgument starting with `label`."""
    if not _SIGNED.fullmatch(text) or not low <= int(text) <= high:
        raise InvalidArgument(f"{label} must be an integer in [{low}, {high}], got {text!r}")
    return int(text)


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

    def text(self, key: str) -> str | None:
        """The parameter `key` as given (for values the operation decodes itself), or None when absent."""
        return self.named.pop(key, None)

    def int(self, key: str, low: int, high: int, default: int | None = None, required: bool = False) -> int | None:
        """The integer parameter `key` in [low, high], or `default` when absent (MissingArgument if `required`)."""
        text = self.text(key)
        if text is None:
            if required:
                raise MissingArgument(f"{self.action}: {key} is required")
            return default
        return bounded_int(f"{self.action}: {key}", text, low, high)

    def choice(self, key: str, options: Iterable[str], default: str | None = None,
               aliases: dict[str, str] | None = None) -> str | None:
        """The parameter `key`, one of `options` (case-insensitive), or `default` when absent."""
        text = self.text(key)
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
        text = self.text(key)
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


@dataclass(frozen=True)
class Param:
    """One parameter: how it is written in a URL, its type and range; name and default are the field's.

    `type` is one of "int", "signed" (may be negative), "choice", "colour"
    (RRGGBB), "bool" (0 or 1), "flag" (present as its one option, or absent)
    or "text" (decoded by `decode`, written back by `encode`). `key` is None
    for the bare value of actions like `rotate,90`; `what` names that value in
    errors. `noop` is the value at which the parameter changes nothing;
    `always` keeps a parameter in the canonical spelling at its default.
    """

    type: str
    key: str | None = None
    low: int | None = None
    high: int | None = None
    options: tuple[str, ...] = ()
    aliases: dict[str, str] | None = None
    what: str = ""
    modulo: int | None = None
    noop: Any = _UNSET
    always: bool = False
    decode: Callable[[str], Any] | None = None
    encode: Callable[[Any], str] | None = None
    # Filled from the dataclass field by `declared`.
    name: str = ""
    default: Any = _UNSET

    @property
    def required(self) -> bool:
        return self.default is _UNSET

    @property
    def has_noop(self) -> bool:
        return self.noop is not _UNSET

    def take(self, params: Params) -> Any:
        """This parameter's value from `params` (its default when absent); raises naming it when bad."""
        if self.key is None:
            return self._bare(params)
        default = None if self.required else self.default
        if self.type == "int":
            value = params.int(self.key, self.low, self.high, default, required=self.required)
            return value % self.modulo if self.modulo and value is not None else value
        if self.type == "choice":
            return params.choice(self.key, self.options, default, self.aliases)
        if self.type == "flag":
            return params.choice(self.key, self.options) is not None
        if self.type == "colour":
            return params.color(self.key, default)
        text = params.text(self.key)
        if text is None:
            return default
        if self.type == "signed":
            return signed_int(f"{params.action}: {self.key}", text, self.low, self.high)
        return self.decode(text)

    def _bare(self, params: Params) -> Any:
        if self.type == "bool":
            return params.value(self.what, 0, 1) == "1"
        if self.type == "int":
            value = int(params.value(self.what, self.low, self.high))
            return value % self.modulo if self.modulo else value
        if self.type == "signed":
            return signed_int(f"{params.action}: {self.what}", params.value(self.what), self.low, self.high)
        return self.decode(params.value(self.what))

    def spell(self, value: Any) -> str | None:
        """The canonical token for `value` (`w_100`, `90`), or None when it is left out (the default)."""
        if self.key is not None and not self.always and (value is None or value == self.default):
            return None
        if self.type == "flag":
            text = self.options[0]
        elif self.type == "bool":
            text = "1" if value else "0"
        else:
            text = self.encode(value) if self.encode else str(value)
        return text if self.key is None else f"{self.key}_{text}"

    def describe(self) -> dict:
        """The parameter as plain data: name, key (None: the bare value), type, range or options,
        default (None when required or absent), aliases."""
        return {"name": self.name, "key": self.key, "type": self.type, "low": self.low, "high": self.high,
                "options": list(self.options), "aliases": dict(self.aliases or {}), "required": self.required,
                "default": None if self.required else self.default, "what": self.what}


def _field(param: Param, default: Any) -> Any:
    if default is _UNSET:
        return dataclasses.field(metadata={"param": param})
    return dataclasses.field(default=default, metadata={"param": param})


def integer(low: int, high: int, default: Any = _UNSET, *, key: str | None = None, modulo: int | None = None,
            noop: Any = _UNSET, always: bool = False) -> Any:
    """A named integer parameter `<key>_<n>` in [low, high] (the key defaults to the field's name)."""
    return _field(Param("int", key or "", low, high, modulo=modulo, noop=noop, always=always), default)


def signed(low: int, high: int, default: Any = _UNSET, *, key: str | None = None) -> Any:
    """A named integer parameter that may be negative (`voffset_-10`), in [low, high]."""
    return _field(Param("signed", key or "", low, high), default)


def choice(options: tuple[str, ...], default: Any = _UNSET, *, key: str | None = None,
           aliases: dict[str, str] | None = None, always: bool = False) -> Any:
    """A named parameter, one of `options` (case-insensitive; `aliases` fold other spellings)."""
    return _field(Param("choice", key or "", options=options, aliases=aliases, always=always), default)


def flag(option: str, *, key: str) -> Any:
    """`<key>_<option>` present (True) or absent (False), as `m_fast`."""
    return _field(Param("flag", key, options=(option,)), False)


def colour(default: str, *, key: str | None = None) -> Any:
    """A named RRGGBB colour, upper-cased."""
    return _field(Param("colour", key or ""), default)


def decoded(decode: Callable[[str], Any], encode: Callable[[Any], str] | None = None, default: Any = _UNSET, *,
         key: str | None = None) -> Any:
    """A named parameter the operation decodes itself (`decode(text)` raises naming it)."""
    return _field(Param("text", key or "", decode=decode, encode=encode), default)


def bare_integer(what: str, low: int, high: int, *, signed: bool = False, modulo: int | None = None,
                 noop: Any = _UNSET) -> Any:
    """The single bare value of an action (`rotate,90`), an integer in [low, high]; `what` names it."""
    return _field(Param("signed" if signed else "int", None, low, high, what=what, modulo=modulo, noop=noop), _UNSET)


def bare_bool(default: bool, *, noop: bool) -> Any:
    """The single bare value 0 or 1 of an action (`interlace,1`)."""
    return _field(Param("bool", None, 0, 1, what="0 or 1", noop=noop), default)


def bare_text(what: str, decode: Callable[[str], Any], options: tuple[str, ...] = ()) -> Any:
    """The single bare value of an action, decoded by the operation (`format,webp`); `options`
    lists the values it takes, for `describe`."""
    return _field(Param("text", None, options=options, what=what, decode=decode), _UNSET)


def either(given: dict, first: str, second: str, action: str) -> dict:
    """`given` (an operation's read parameters) where one of `first` and `second` is required and
    `second` wins: `first` is dropped when both are given; MissingArgument names both when neither is."""
    if given[first] is None and given[second] is None:
        raise MissingArgument(f"{action}: {first} or {second} is required")
    if given[second] is not None:
        given[first] = None
    return given


def declared(cls: type) -> tuple[Param, ...]:
    """The parameters a dataclass declares, in field order, with their names and defaults filled in."""
    out = []
    for f in dataclasses.fields(cls):
        param = f.metadata.get("param")
        if param is not None:
            key = param.key if param.key is None or param.key else f.name
            default = _UNSET if f.default is dataclasses.MISSING else f.default
            out.append(dataclasses.replace(param, name=f.name, key=key, default=default))
    return tuple(out)
