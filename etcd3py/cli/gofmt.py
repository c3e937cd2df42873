"""Go's text forms of numbers, durations and sizes, which etcdctl and etcd's benchmark print.

Their output must read exactly as etcd's does, so Go's ``%g``/``%v`` of a float (the
shortest digits that round-trip, with an exponent below 1e-4 and from 1e6 up),
``time.Duration.String()``, ``time.ParseDuration`` (with Go's error messages: the
flags print them) and go-humanize's ``Bytes`` are reproduced here, once for the
whole command line.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = ["go_duration", "go_g", "go_humanize_bytes", "parse_go_duration"]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 MICRO SIGN
    "μs": 1e-6,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_g(x: float) -> str:
    """``fmt.Sprintf("%g", x)`` / ``%v`` of a float64: shortest round-trip digits."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if str(x).startswith("-") else "0"
    sign, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent += len(digit_tuple) - len(digits)  # trailing zeros moved into the exponent
    point = len(digits) + exponent  # digits before the decimal point
    minus = "-" if sign else ""
    exp = point - 1
    if exp < -4 or exp >= 6:  # Go uses precision 6 for this choice in shortest mode
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}"
    return f"{minus}{digits[:point]}.{digits[point:]}"


def _fraction(value: int, precision: int) -> str:
    """``value`` / 10**precision with trailing zeros (and a bare point) dropped."""
    whole, frac = divmod(value, 10**precision)
    frac_text = f"{frac:0{precision}d}".rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def go_duration(ns: int) -> str:
    """``time.Duration(ns).String()``: "1.5ms", "12.000345s", "1m2.5s", "0s"."""
    if ns == 0:
        return "0s"
    minus = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{minus}{ns}ns"
    if ns < 1_000_000:
        return f"{minus}{_fraction(ns, 3)}µs"
    if ns < 1_000_000_000:
        return f"{minus}{_fraction(ns, 6)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_fraction(rest, 9)}s"
    if hours:
        return f"{minus}{hours}h{minutes}m{text}"
    if minutes:
        return f"{minus}{minutes}m{text}"
    return f"{minus}{text}"


def parse_go_duration(text: str) -> float:
    """A Go ``time.ParseDuration`` string in seconds; ValueError with Go's message."""
    body = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            number = re.match(r"\d+\.?\d*|\.\d+", body[pos:])
            if number is None:
                raise ValueError(f'time: invalid duration "{text}"')
            unit = re.match(r"[^\d.]*", body[pos + number.end() :])
            if unit is None or not unit.group(0):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: unknown unit "{unit.group(0)}" in duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def go_humanize_bytes(size: int) -> str:
    """go-humanize's ``Bytes``: SI units, one decimal below 10 ("8.2 kB", "20 kB", "5 B")."""
    if size < 10:
        return f"{size} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    exponent = min(math.floor(math.log(size) / math.log(1000)), len(units) - 1)
    value = math.floor(size / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {units[exponent]}" if value < 10 else f"{value:.0f} {units[exponent]}"
