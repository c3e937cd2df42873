"""Keys and values as etcd's benchmark makes them."""

from __future__ import annotations

import os

import click

__all__ = ["check_key_size", "random_bytes", "varint_key"]


def _zigzag_varint(n: int) -> bytes:
    """Go's ``binary.PutVarint`` encoding of ``n`` (zigzag, then base-128 groups)."""
    u = (n << 1) ^ (n >> 63)
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def varint_key(n: int, size: int) -> bytes:
    """Key number ``n``: its varint in a zeroed buffer of ``size`` bytes, as etcd writes it."""
    encoded = _zigzag_varint(n)
    return encoded + bytes(size - len(encoded))


def check_key_size(key_size: int, key_space_size: int) -> None:
    """Fail as a usage error when the largest key number does not fit in ``--key-size``.

    (etcd's tool panics with an index out of range in that case.)
    """
    needed = len(_zigzag_varint(max(key_space_size - 1, 0)))
    if key_size < needed:
        raise click.BadParameter(
            f"{key_size} bytes cannot hold key numbers up to {key_space_size - 1} "
            f"(--key-space-size {key_space_size} needs at least {needed})",
            param_hint="'--key-size'",
        )


def random_bytes(size: int) -> bytes:
    """etcd's ``mustRandBytes``: ``size`` random bytes."""
    return os.urandom(size)
