"""Keys and key ranges: coercion and etcd's range encoding, with clear errors."""

from __future__ import annotations

from typing import Union

from .errors import ArgumentTypeError, EmptyKeyError, InvalidArgumentError

KeyLike = Union[str, bytes]  # noqa: UP007 - a runtime alias, kept for Python 3.10 users

FROM_KEY = b"\x00"  # range_end meaning "every key >= key"


def to_bytes(value: KeyLike, what: str = "key") -> bytes:
    """UTF-8 encode a str; pass bytes through; refuse anything else by name."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ArgumentTypeError(what, value, "str or bytes")


def to_key(key: KeyLike, what: str = "key") -> bytes:
    """A non-empty key as bytes."""
    data = to_bytes(key, what)
    if not data:
        raise EmptyKeyError(f"{what} must not be empty")
    return data


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that makes [prefix, range_end) every key starting with prefix."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return FROM_KEY  # the prefix is all 0xff bytes (or empty): every key from it on


def key_range(
    key: KeyLike,
    *,
    prefix: bool = False,
    range_end: KeyLike | None = None,
    from_key: bool = False,
) -> tuple[bytes, bytes]:
    """(key, range_end) in etcd's encoding for the ways a caller can name a range."""
    chosen = [name for name, on in (("prefix", prefix), ("range_end", range_end is not None),
                                    ("from_key", from_key)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise InvalidArgumentError(
            f"give at most one of prefix, range_end, from_key (got {chosen})"
        )
    begin = to_bytes(key)
    if prefix:
        if not begin:
            return FROM_KEY, FROM_KEY  # an empty prefix: every key
        return begin, prefix_end(begin)
    if from_key:
        return begin or FROM_KEY, FROM_KEY
    if not begin:
        raise EmptyKeyError("key must not be empty")
    if range_end is not None:
        return begin, to_bytes(range_end, "range_end")
    return begin, b""
