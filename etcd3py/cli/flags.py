"""Flags with pflag's grammar and messages, on click.

etcdctl's flags come from spf13/pflag: booleans take ``--flag``, ``--flag=true`` or
``--flag=false`` (never a separate value), durations are Go durations (``2s``, ``1m30s``),
and a bad value reads ``invalid argument "x" for "--limit" flag: <Go's parse error>``.
Click's flags cannot take ``=value``, so every flag here takes a value and
``EtcdCommand.parse_args`` turns a bare boolean ``--flag`` into ``--flag=true`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from .gofmt import go_duration, parse_go_duration


def format_go_duration(seconds: float) -> str:
    """Go's ``Duration.String`` of a flag's default given in seconds."""
    return go_duration(round(seconds * 1e9))


if TYPE_CHECKING:  # generic in click's stubs (8.2+), not subscriptable in older clicks
    _ParamType = click.ParamType[Any]
else:
    _ParamType = click.ParamType


class GoType(_ParamType):
    """A flag value parsed as pflag parses it; failures carry pflag's whole message."""

    name = "value"
    go_type = "string"  # pflag's Value.Type(): how usage shows the default

    def parse(self, value: str) -> Any:
        return value

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as error:
            flag = flag_display(param)
            self.fail(f'invalid argument "{value}" for "{flag}" flag: {error}', param, ctx)


class GoString(GoType):
    name = "string"


class GoBool(GoType):
    name = "bool"
    go_type = "bool"

    def parse(self, value: str) -> bool:
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


class GoInt(GoType):
    name = "int"
    go_type = "int64"
    bits = 64

    def parse(self, value: str) -> int:
        if not re.fullmatch(
            r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]*|0[bB][01_]+|[1-9][0-9_]*)", value
        ):
            raise ValueError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
        number = int(value.replace("_", ""), 0)
        if not -(1 << (self.bits - 1)) <= number < 1 << (self.bits - 1):
            raise ValueError(f'strconv.ParseInt: parsing "{value}": value out of range')
        return number


class GoDuration(GoType):
    name = "duration"
    go_type = "duration"

    def parse(self, value: str) -> float:
        return parse_go_duration(value)


class GoStringSlice(GoType):
    """pflag's stringSlice: comma-separated (CSV), the values appended across repeats."""

    name = "strings"
    go_type = "stringSlice"

    def parse(self, value: str) -> list[str]:
        return [part for part in value.split(",")] if value else []


STRING, BOOL, INT, DURATION, STRING_SLICE = (
    GoString(),
    GoBool(),
    GoInt(),
    GoDuration(),
    GoStringSlice(),
)


def flag_display(param: click.Parameter | None) -> str:
    """How pflag names a flag in messages: ``-w, --write-out`` or ``--limit``."""
    if param is None:
        return "?"
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")]
    return ", ".join(shorts + longs)


class Flag(click.Option):
    """A pflag-style flag: always a value option; ``usage`` and ``go_default`` as etcdctl shows
    them in help."""

    def __init__(
        self,
        decls: Sequence[str],
        *,
        type: GoType = STRING,
        default: Any = None,
        usage: str = "",
        go_default: str | None = None,
        env_name: str | None = None,
        multiple: bool = False,
    ) -> None:
        super().__init__(list(decls), type=type, default=default, multiple=multiple, help=usage)
        self.go_type = type
        self.usage = usage
        self.env_name = env_name
        self.go_default = go_default if go_default is not None else _shown_default(type, default)

    def from_environment(self) -> Any:
        """The value of ``env_name`` parsed, or None when unset, empty or unparsable:
        etcdctl ignores an environment value its flag refuses."""
        text = os.environ.get(self.env_name or "", "")
        if not text:
            return None
        try:
            return self.go_type.parse(text)
        except ValueError:
            return None

    def is_bool(self) -> bool:
        return isinstance(self.go_type, GoBool)


def _shown_default(kind: GoType, default: Any) -> str:
    if isinstance(kind, GoBool):
        return "true" if default else "false"
    if isinstance(kind, GoDuration):
        return format_go_duration(default)
    if isinstance(kind, GoStringSlice):
        return "[" + ",".join(default or ()) + "]"
    return "" if default is None else str(default)


def flag(*decls: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@flag("--limit", type=INT, default=0, usage="...")``: click.option with the Flag class."""
    return click.option(*decls, cls=Flag, **options)


def expand_bool_flags(args: list[str], params: Sequence[click.Parameter]) -> list[str]:
    """pflag's forms click lacks, made explicit (before ``--``): a bare boolean ``--prefix``
    becomes ``--prefix=true``, and ``-w=json`` (a shorthand with ``=``) ``--write-out=json``."""
    longest_of: dict[str, str] = {}
    booleans: set[str] = set()
    for param in params:
        if isinstance(param, Flag):
            longest = max(param.opts, key=len)
            for opt in param.opts:
                longest_of[opt] = longest
                if param.is_bool():
                    booleans.add(opt)
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            out.extend(args[i:])
            break
        short, equals, value = arg[:2], arg[2:3], arg[3:]
        if arg in booleans:
            out.append(f"{longest_of[arg]}=true")
        elif equals == "=" and not arg.startswith("--") and short in longest_of:
            out.append(f"{longest_of[short]}={value}")
        else:
            out.append(arg)
    return out
