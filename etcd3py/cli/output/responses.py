"""Lease results in the shape etcdctl prints them.

The public client returns a ``Lease`` (id, ttl) for a grant and nothing for a revoke; the
printers take these small records instead, so a command fills in what it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class HeaderLike(Protocol):
    """etcd's response header, as ``etcd3py.Header`` has it."""

    @property
    def cluster_id(self) -> int: ...
    @property
    def member_id(self) -> int: ...
    @property
    def revision(self) -> int: ...
    @property
    def raft_term(self) -> int: ...


@dataclass(frozen=True)
class EmptyHeader:
    """No header known (the public API did not return one): every field zero."""

    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0


@dataclass(frozen=True)
class LeaseGrant:
    id: int
    ttl: int
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class LeaseRevoke:
    id: int
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class LeaseKeepAlive:
    id: int
    ttl: int
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class LeaseList:
    ids: list[int]
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class WatchCanceled:
    """The response that ends a watch the server cancelled (e.g. its start revision was
    compacted): no events, ``compact_revision`` set. The public client raises
    CompactedError instead; the watch command turns it into this to print it."""

    header: HeaderLike
    compact_revision: int
    events: tuple[()] = ()
    canceled: bool = True
