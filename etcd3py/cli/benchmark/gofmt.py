"""Go's text forms of numbers and durations, which etcd's benchmark report prints.

The report must read exactly as etcd's does, so Go's ``%g``/``%v`` of a float (the
shortest digits that round-trip, with an exponent below 1e-4 and from 1e6 up),
``time.Duration.String()`` and ``time.ParseDuration`` (the flags) are reproduced here.
"""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = ["go_duration", "go_g", "go_humanize_bytes", "parse_go_duration"]

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


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
    """Seconds in a Go duration ("300ms", "1m30s", "0"); ValueError if malformed."""
    rest = text.strip()
    negative = rest.startswith("-")
    rest = rest.lstrip("+-")
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total_ns = 0.0
    while rest:
        number_end = 0
        while number_end < len(rest) and (rest[number_end].isdigit() or rest[number_end] == "."):
            number_end += 1
        number, rest = rest[:number_end], rest[number_end:]
        unit_end = 0
        while unit_end < len(rest) and not (rest[unit_end].isdigit() or rest[unit_end] == "."):
            unit_end += 1
        unit, rest = rest[:unit_end], rest[unit_end:]
        if number in ("", ".") or unit not in _UNITS_NS:
            raise ValueError(f"invalid duration {text!r}")
        total_ns += float(number) * _UNITS_NS[unit]
    seconds = total_ns / 1e9
    return -seconds if negative else seconds


def go_humanize_bytes(size: int) -> str:
    """go-humanize's ``Bytes``: SI units, one decimal below 10 ("8.2 kB", "20 kB", "5 B")."""
    if size < 10:
        return f"{size} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    exponent = min(math.floor(math.log(size) / math.log(1000)), len(units) - 1)
    value = math.floor(size / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {units[exponent]}" if value < 10 else f"{value:.0f} {units[exponent]}"
