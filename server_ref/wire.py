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


LENGTH_DELIMITED = 2  # the wire type of bytes, strings and messages


def length_delimited(number: int, body: bytes) -> bytes:
    """Field ``number`` holding ``body`` (bytes, a string or a message)."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(body)) + body


def length_delimited_fields(data: bytes, what: str) -> list[tuple[int, bytes]]:
    """(number, body) of each field of ``data``, a ``what`` message whose fields are all
    length-delimited, in order; a field of any other wire type is a ValueError."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type != LENGTH_DELIMITED:
            raise ValueError(f"unexpected wire type {wire_type} for field {number} of {what}")
        length, pos = read_varint(data, pos)
        out.append((number, data[pos : pos + length]))
        pos += length
    return out


def varint_size(n: int) -> int:
    """Bytes taken by ``n`` (>= 0) as a varint."""
    return (n.bit_length() + 6) // 7 or 1


def field_size(n: int) -> int:
    """Bytes taken by a length-delimited field with a one-byte tag and n bytes of data."""
    return 1 + varint_size(n) + n
