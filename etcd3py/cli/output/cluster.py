"""Cluster and maintenance results (member, endpoint, alarm, move-leader) in the shape
etcdctl prints them, and the Go renderings those outputs use (durations, byte sizes).

The public client returns members, alarms and hashes without etcd's response header; the
commands fill one in where a format prints it (see ``cli/cluster.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from etcd3py import Alarm, Member, Status

from ..gofmt import go_humanize_bytes
from .responses import EmptyHeader, HeaderLike


@dataclass(frozen=True)
class MemberList:
    members: Sequence[Member]
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class MemberChange:
    """The result of member add/remove/update/promote: ``member`` is the added one (add)."""

    verb: str  # "added to", "removed from", "updated in", "promoted in"
    id: int
    members: Sequence[Member]
    header: HeaderLike = field(default_factory=EmptyHeader)
    member: Member | None = None


@dataclass(frozen=True)
class EndpointHealth:
    endpoint: str
    health: bool
    took: str  # Go's Duration.String of the check's time ("" if it never ran)
    error: str = ""


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    status: Status


@dataclass(frozen=True)
class EndpointHash:
    endpoint: str
    hash: int
    compact_revision: int
    header: HeaderLike = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class AlarmList:
    """``header`` None: etcdctl's disarm answer, which the Go client builds without one."""

    alarms: Sequence[Alarm]
    header: HeaderLike | None = field(default_factory=EmptyHeader)


@dataclass(frozen=True)
class MoveLeader:
    leader: int
    target: int
    header: HeaderLike = field(default_factory=EmptyHeader)


def member_rows(members: Sequence[Member]) -> list[list[str]]:
    """etcdctl's member table rows: ID, status, name, peer and client URLs, learner."""
    return [
        [
            f"{m.id:x}",
            "started" if m.name else "unstarted",
            m.name,
            ",".join(m.peer_urls),
            ",".join(m.client_urls),
            "true" if m.is_learner else "false",
        ]
        for m in members
    ]


MEMBER_HEADER = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"]
HEALTH_HEADER = ["endpoint", "health", "took", "error"]
STATUS_HEADER = [
    "endpoint",
    "ID",
    "version",
    "db size",
    "is leader",
    "is learner",
    "raft term",
    "raft index",
    "raft applied index",
    "errors",
]
HASH_HEADER = ["endpoint", "hash"]


def health_rows(items: Sequence[EndpointHealth]) -> list[list[str]]:
    return [[h.endpoint, "true" if h.health else "false", h.took, h.error] for h in items]


def status_rows(items: Sequence[EndpointStatus]) -> list[list[str]]:
    rows = []
    for item in items:
        s = item.status
        rows.append(
            [
                item.endpoint,
                f"{s.member_id:x}",
                s.version,
                go_humanize_bytes(s.db_size),
                "true" if s.leader == s.member_id else "false",
                "true" if s.is_learner else "false",
                str(s.raft_term),
                str(s.raft_index),
                str(s.raft_applied_index),
                ", ".join(s.errors),
            ]
        )
    return rows


def hash_rows(items: Sequence[EndpointHash]) -> list[list[str]]:
    return [[h.endpoint, str(h.hash)] for h in items]
