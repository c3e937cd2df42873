"""Small helpers shared by the recipes: names, values, deadlines."""

from __future__ import annotations

import time

from etcd3py import DeadlineExceededError


def as_bytes(value: str | bytes, what: str = "value") -> bytes:
    """UTF-8 for str, as the client does; anything else is refused by name."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def name_prefix(name: str | bytes, what: str) -> bytes:
    """``<name>/``: the prefix under which a recipe keeps its keys."""
    data = as_bytes(name, f"{what} name")
    if not data:
        raise ValueError(f"a {what} needs a name")
    return data + b"/"


def deadline_after(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def remaining(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (None: no deadline); raises when it passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceededError("the wait reached its timeout")
    return left
