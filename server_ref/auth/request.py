"""The one proposal of auth that is not a client request: etcd's InternalAuthenticateRequest."""

from __future__ import annotations

from dataclasses import dataclass

from ..wire import read_varint, varint


@dataclass(frozen=True)
class InternalAuthenticate:
    """etcd's InternalAuthenticateRequest: a user whose password the member checked,
    and the random letters of the token the entry's index completes. (The password
    field, 2, stays empty, as etcd 3.5 leaves it.)"""

    name: str
    simple_token: str

    def SerializeToString(self) -> bytes:
        out = b""
        if self.name:
            out += _field(1, self.name.encode())
        if self.simple_token:
            out += _field(3, self.simple_token.encode())
        return out

    def ByteSize(self) -> int:
        return len(self.SerializeToString())

    @classmethod
    def FromString(cls, data: bytes) -> InternalAuthenticate:
        fields = _fields(data)
        return cls(fields.get(1, b"").decode(), fields.get(3, b"").decode())


def _field(number: int, body: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(body)) + body


def _fields(data: bytes) -> dict[int, bytes]:
    out, pos = {}, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        if key & 7 != 2:
            raise ValueError(f"unexpected wire type {key & 7} in InternalAuthenticateRequest")
        length, pos = read_varint(data, pos)
        out[key >> 3] = data[pos : pos + length]
        pos += length
    return out
