"""Protobuf wire arithmetic: etcd measures proposals and splits watch responses by size,
and the log form of a proposal frames its fields with varints."""

from __future__ import annotations


def varint(n: int) -> bytes:
    """``n`` (>= 0) as a protobuf base-128 varint."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if not n:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``data[pos:]`` and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def varint_size(n: int) -> int:
    """Bytes taken by ``n`` (>= 0) as a varint."""
    return (n.bit_length() + 6) // 7 or 1


def field_size(n: int) -> int:
    """Bytes taken by a length-delimited field with a one-byte tag and n bytes of data."""
    return 1 + varint_size(n) + n
