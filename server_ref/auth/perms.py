"""A user's merged key permissions, and whether they cover a request (etcd's
range_perm_cache).

Each kind (read, write) is an interval tree built as etcd builds it: the user's roles in
the user's order, each role's permissions in their stored order. A permission on one key
is the interval [key, key + "\\0"); a range end "\\0" means no end (+inf). A request on
one key is permitted when the tree ``intersects`` the key, on a range when the tree
``contains`` it -- etcd's walks, whose answers on inverted or empty ranges and on the
empty key depend on the tree's shape (see interval_tree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from etcd3py._proto import auth_pb2

from .interval_tree import Interval, IntervalTree, point

_READ, _WRITE, _READWRITE = (
    auth_pb2.Permission.READ,
    auth_pb2.Permission.WRITE,
    auth_pb2.Permission.READWRITE,
)


def _end(range_end: bytes) -> bytes:
    """A range end as an interval's: "\\0" (from the key on) is +inf, which is b""."""
    return b"" if range_end == b"\x00" else range_end


def permission_interval(perm: auth_pb2.Permission) -> Interval:
    if not perm.range_end:
        return point(perm.key)
    return perm.key, _end(perm.range_end)


@dataclass
class MergedPermissions:
    """The read and write intervals of every role a user has."""

    read: IntervalTree = field(default_factory=IntervalTree)
    write: IntervalTree = field(default_factory=IntervalTree)

    @classmethod
    def of(cls, roles: Iterable[auth_pb2.Role]) -> MergedPermissions:
        merged = cls()
        for role in roles:
            for perm in role.keyPermission:
                interval = permission_interval(perm)
                if perm.permType in (_READ, _READWRITE):
                    merged.read.insert(interval)
                if perm.permType in (_WRITE, _READWRITE):
                    merged.write.insert(interval)
        return merged

    def allows(self, key: bytes, range_end: bytes, write: bool) -> bool:
        tree = self.write if write else self.read
        if not range_end:
            return tree.intersects(point(key))
        return tree.contains((key, _end(range_end)))
