"""A user's merged key permissions, and whether they cover a request (etcd's
range_perm_cache).

Keys are compared as etcd's "bytes affine" intervals: an empty end means no end (+inf).
A permission on one key is the interval [key, key + "\\0"); a permission whose range
end is "\\0" runs from its key to +inf. A request on a range is permitted when the
union of the user's intervals of the needed kind covers the whole range; a request
on one key, when one interval holds it: looked up by bisection in the union of the
intervals, kept sorted and disjoint (a user with 100 permissions pays for a scan of
all of them on every single-key Range and Put otherwise).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

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


def intersects(a: Interval, b: Interval) -> bool:
    return _before(a[0], b[1]) and _before(b[0], a[1])


def _covers(intervals: list[Interval], wanted: Interval) -> bool:
    hits = sorted((i for i in intervals if intersects(i, wanted)), key=lambda i: i[0])
    if not hits:
        return False
    begin, end = hits[0]
    for b, e in hits[1:]:
        if _before(end, b):
            return False  # a gap
        if _before(end, e):
            end = e
    return begin <= wanted[0] and _at_least(end, wanted[1])


@dataclass(frozen=True)
class DisjointIntervals:
    """The union of some intervals as sorted, disjoint, non-touching [begin, end) pieces.

    An interval with an empty begin, or an end not after its begin, holds no key (the
    bytes-affine comparison above) and is left out.
    """

    begins: list[bytes]
    ends: list[bytes]

    @classmethod
    def of(cls, intervals: Iterable[Interval]) -> DisjointIntervals:
        begins: list[bytes] = []
        ends: list[bytes] = []
        for begin, end in sorted(i for i in intervals if i[0] and _before(i[0], i[1])):
            if ends and not _before(ends[-1], begin):  # overlaps or touches the last piece
                if _before(ends[-1], end):
                    ends[-1] = end
            else:
                begins.append(begin)
                ends.append(end)
        return cls(begins, ends)

    def holds(self, key: bytes) -> bool:
        """Whether ``key`` lies in the union (an empty key never does)."""
        if not key:
            return False
        i = bisect_right(self.begins, key) - 1
        return i >= 0 and (not self.ends[i] or key < self.ends[i])


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

    @cached_property
    def _read_keys(self) -> DisjointIntervals:
        return DisjointIntervals.of(self.read)

    @cached_property
    def _write_keys(self) -> DisjointIntervals:
        return DisjointIntervals.of(self.write)

    def allows(self, key: bytes, range_end: bytes, write: bool) -> bool:
        if not range_end:
            return (self._write_keys if write else self._read_keys).holds(key)
        intervals = self.write if write else self.read
        return _covers(intervals, (key, b"" if range_end == b"\x00" else range_end))
