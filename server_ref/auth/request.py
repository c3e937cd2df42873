"""The one proposal of auth that is not a client request: etcd's InternalAuthenticateRequest."""

from __future__ import annotations

from dataclasses import dataclass

from ..wire import length_delimited, length_delimited_fields


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
            out += length_delimited(1, self.name.encode())
        if self.simple_token:
            out += length_delimited(3, self.simple_token.encode())
        return out

    def ByteSize(self) -> int:
        return len(self.SerializeToString())

    @classmethod
    def FromString(cls, data: bytes) -> InternalAuthenticate:
        fields = dict(length_delimited_fields(data, "InternalAuthenticateRequest"))
        return cls(fields.get(1, b"").decode(), fields.get(3, b"").decode())
