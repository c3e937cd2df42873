"""A user's merged key permissions, and whether they cover a request (etcd's
range_perm_cache).

Keys are compared as etcd's "bytes affine" intervals: an empty end means no end (+inf).
A permission on one key is the interval [key, key + "\\0"); a permission whose range
end is "\\0" runs from its key to +inf. A request on a range is permitted when the
union of the user's intervals of the needed kind covers the whole range; a request
on one key, when one interval holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from etcd3py._proto import auth_pb2

_READ, _WRITE, _READWRITE = (
    auth_pb2.Permission.READ,
    auth_pb2.Permission.WRITE,
    auth_pb2.Permission.READWRITE,
)

Interval = tuple[bytes, bytes]  # [begin, end); end b"" is +inf


def _before(a: bytes, b: bytes) -> bool:
    """a < b, where an empty end is +inf."""
    if not a:
        return False
    return not b or a < b


def _at_least(a: bytes, b: bytes) -> bool:
    """a >= b, where an empty end is +inf."""
    return not _before(a, b)


def point(key: bytes) -> Interval:
    return key, key + b"\x00"


def permission_interval(perm: auth_pb2.Permission) -> Interval:
    if not perm.range_end:
        return point(perm.key)
    return perm.key, b"" if perm.range_end == b"\x00" else perm.range_end


def _intersects(a: Interval, b: Interval) -> bool:
    return _before(a[0], b[1]) and _before(b[0], a[1])


def _covers(intervals: list[Interval], wanted: Interval) -> bool:
    hits = sorted((i for i in intervals if _intersects(i, wanted)), key=lambda i: i[0])
    if not hits:
        return False
    begin, end = hits[0]
    for b, e in hits[1:]:
        if _before(end, b):
            return False  # a gap
        if _before(end, e):
            end = e
    return begin <= wanted[0] and _at_least(end, wanted[1])


@dataclass
class MergedPermissions:
    """The read and write intervals of every role a user has."""

    read: list[Interval] = field(default_factory=list)
    write: list[Interval] = field(default_factory=list)

    @classmethod
    def of(cls, roles: Iterable[auth_pb2.Role]) -> MergedPermissions:
        merged = cls()
        for role in roles:
            for perm in role.keyPermission:
                interval = permission_interval(perm)
                if perm.permType in (_READ, _READWRITE):
                    merged.read.append(interval)
                if perm.permType in (_WRITE, _READWRITE):
                    merged.write.append(interval)
        return merged

    def allows(self, key: bytes, range_end: bytes, write: bool) -> bool:
        intervals = self.write if write else self.read
        if not range_end:
            wanted = point(key)
            return any(_intersects(i, wanted) for i in intervals)
        return _covers(intervals, (key, b"" if range_end == b"\x00" else range_end))
