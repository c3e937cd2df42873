"""Cluster and maintenance results (member, endpoint, alarm, move-leader) in the shape
etcdctl prints them, and the Go renderings those outputs use (durations, byte sizes).

The public client returns members, alarms and hashes without etcd's response header; the
commands fill one in where a format prints it (see ``cli/cluster.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from etcd3py import Alarm, Member, Status

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


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String``: ``850ns``, ``1.5µs``, ``3.379153ms``, ``1m2.5s``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    n = abs(nanoseconds)
    if n < 1_000_000_000:
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if n < scale * 1000:
                return sign + _decimal(n, scale) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, scale: int) -> str:
    """``value / scale`` with the fraction's trailing zeros dropped, as Go prints it."""
    whole, fraction = divmod(value, scale)
    if not fraction:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}." + f"{fraction:0{digits}d}".rstrip("0")


_SIZES = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]


def humanize_bytes(size: int) -> str:
    """go-humanize's ``Bytes``: SI units, one decimal below 10 (``29 kB``, ``1.2 MB``)."""
    if size < 10:
        return f"{size} B"
    exponent = math.floor(math.log(size) / math.log(1000))
    value = math.floor(size / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {_SIZES[exponent]}" if value < 10 else f"{value:.0f} {_SIZES[exponent]}"


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
                humanize_bytes(s.db_size),
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
