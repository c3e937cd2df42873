"""Argument checks: the one rule for every public method of the client and the recipes.

Each check takes the value and the argument's name, and returns the value as the
caller uses it, or raises ArgumentTypeError (a TypeError) or ArgumentError (a
ValueError) naming the argument and the value, before anything is sent. ``bool`` is
never taken for a number, though Python makes it an ``int``.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from .errors import ArgumentError, ArgumentTypeError

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1


def _whole(value: object, name: str, expected: str) -> int:
    """An int (not a bool, not a float: 2.5 seconds of TTL would be silently cut)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(name, value, expected)
    return value


def integer(value: object, name: str, minimum: int = 0, maximum: int = MAX_INT64) -> int:
    """A whole number within [minimum, maximum]."""
    if maximum >= MAX_INT64:
        expected = "an int" if minimum < -MAX_INT64 else f"an int, at least {minimum}"
    else:
        expected = f"an int from {minimum} to {maximum}"
    number = _whole(value, name, expected)
    if not minimum <= number <= maximum:
        raise ArgumentError(name, value, expected)
    return number


def ttl(value: object, name: str = "ttl") -> int:
    """A lease TTL: whole seconds, at least 1 (etcd would silently raise 0 or less to
    its minimum). Above etcd's maximum (9,000,000,000 s) etcd itself answers, with its
    own LeaseTTLTooLargeError."""
    expected = "a whole number of seconds (an int), at least 1"
    seconds = _whole(value, name, expected)
    if not 1 <= seconds <= MAX_INT64:
        raise ArgumentError(name, value, expected)
    return seconds


def revision(value: object, name: str = "revision") -> int:
    """A revision: 0 (the current one) or more."""
    return integer(value, name, 0, MAX_INT64)


def lease_id(value: object, name: str = "lease_id") -> int:
    """A lease id: 0 (none, or let etcd choose) or a positive int64."""
    return integer(value, name, 0, MAX_INT64)


def member_id(value: object, name: str = "member_id") -> int:
    """A member id: a positive uint64."""
    return integer(value, name, 1, MAX_UINT64)


def seconds(value: object, name: str, *, zero: bool = False) -> float:
    """A finite number of seconds, above 0 (or at least 0 when ``zero``)."""
    expected = "a number of seconds at least 0" if zero else "a number of seconds above 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(name, value, expected)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ArgumentError(name, value, expected)
    return float(value)


def call_timeout(value: object, name: str = "timeout") -> float | None:
    """A call's deadline: None (the client's default) or seconds above 0."""
    return None if value is None else seconds(value, name)


def wait_timeout(value: object, name: str = "timeout") -> float | None:
    """How long a wait may last: None (no limit) or seconds, 0 meaning "just look"."""
    return None if value is None else seconds(value, name, zero=True)


def text(value: object, name: str, *, empty: bool = False) -> str:
    """A name given as str (user, role, service ...), non-empty unless ``empty``."""
    if not isinstance(value, str):
        raise ArgumentTypeError(name, value, "a str")
    if not value and not empty:
        raise ArgumentError(name, value, "a non-empty str")
    return value


def choice(value: object, name: str, choices: Collection[str]) -> str:
    """One of a few words (case-insensitive), returned in lower case."""
    if not isinstance(value, str):
        raise ArgumentTypeError(name, value, f"one of {_shown(choices)}")
    word = value.lower()
    if word not in choices:
        raise ArgumentError(name, value, f"one of {_shown(choices)}")
    return word


def _shown(choices: Collection[str]) -> str:
    """The choices, for an error message (only built when one is raised: a lock's
    every request names its sort order and target)."""
    return ", ".join(repr(c) for c in sorted(choices))
