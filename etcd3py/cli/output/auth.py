"""Authentication results (auth, user, role) in the shape etcdctl prints them.

The public client returns names and permissions without etcd's response header; the
commands pass the header of a read made just after (see ``cli/auth.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from etcd3py import KeyPermission

from .responses import EmptyHeader, HeaderLike


@dataclass(frozen=True)
class AuthAck:
    """A change with nothing to show but a line (``Role r created``) and the header."""

    text: str | bytes  # bytes: keys as typed
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class RoleInfo:
    name: str
    perms: Sequence[KeyPermission]
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class NameList:
    """``role list`` (kind "roles") or ``user list`` (kind "users")."""

    kind: str
    names: Sequence[str]
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class UserInfo:
    name: str
    roles: Sequence[str]
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class AuthStatus:
    """``auth_revision`` None: the public client does not return it."""

    enabled: bool
    auth_revision: int | None
    header: HeaderLike = field(default_factory=EmptyHeader)


def prefix_range_end(key: bytes) -> bytes:
    """clientv3.GetPrefixRangeEnd: the key with its last byte below 0xff incremented."""
    end = bytearray(key)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"  # every byte 0xff: from the key on


def role_lines(info: RoleInfo) -> list[bytes]:
    """etcdctl's simple lines for ``role get``: the read and the write permissions."""
    out = [f"Role {info.name}".encode(), b"KV Read:"]

    def describe(perm: KeyPermission) -> bytes:
        if not perm.range_end:
            return b"\t" + perm.key
        if perm.range_end != b"\x00":
            text = b"\t[" + perm.key + b", " + perm.range_end + b")"
        else:
            text = b"\t[" + perm.key + b", <open ended>"
        if prefix_range_end(perm.key) == perm.range_end:
            text += b" (prefix " + perm.key + b")"
        return text

    out += [describe(p) for p in info.perms if p.perm.name in ("READ", "READWRITE")]
    out.append(b"KV Write:")
    out += [describe(p) for p in info.perms if p.perm.name in ("WRITE", "READWRITE")]
    return out
