"""The state behind the gRPC API: store, leases, alarms, membership and counters.

A ``Node`` is what etcd replicates with Raft; one member serves it today. Member and
cluster ids are computed the way etcd computes them (SHA-1 of the peer URLs and the
cluster token; SHA-1 of the member ids), so they are stable across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..apply.applier import DEFAULT_MAX_TXN_OPS, Applier
from ..errors import ServerError
from ..lease.lessor import Lessor
from ..mvcc.store import Store

DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024  # etcd's --max-request-bytes default
ETCD_API_VERSION = "3.5.1"  # reported by Status: the etcd release whose API we serve
_ID_MASK_63 = (1 << 63) - 1


def member_id(peer_urls: list[str], cluster_token: str) -> int:
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + cluster_token).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def cluster_id(member_ids: list[int]) -> int:
    digest = hashlib.sha1(b"".join(i.to_bytes(8, "big") for i in sorted(member_ids))).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class MemberInfo:
    id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str] = field(default_factory=list)
    is_learner: bool = False

    def to_pb(self) -> rpc_pb2.Member:
        return rpc_pb2.Member(
            ID=self.id,
            name=self.name,
            peerURLs=self.peer_urls,
            clientURLs=self.client_urls,
            isLearner=self.is_learner,
        )


class _IdGenerator:
    """Unique positive 63-bit ids: member bits on top, a time-seeded counter below."""

    def __init__(self, member: int) -> None:
        self._prefix = (member & 0xFFFF) << 48
        self._suffix = (int(time.time() * 1000) & ((1 << 40) - 1)) << 8

    def next(self) -> int:
        self._suffix += 1
        return (self._prefix | (self._suffix & ((1 << 48) - 1))) & _ID_MASK_63


@dataclass
class NodeConfig:
    name: str = "default"
    peer_urls: list[str] = field(default_factory=lambda: ["http://localhost:2380"])
    cluster_token: str = "etcd-cluster"
    min_lease_ttl: int = 2
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    progress_notify_interval: float = 600.0  # etcd's default: 10 minutes


class Node:
    """The replicated state machine of a (for now single-member) cluster."""

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.config = config = config or NodeConfig()
        self.lessor = Lessor(config.min_lease_ttl)
        self.store = Store(self.lessor)
        self.applier = Applier(self.store, self.lessor, config.max_txn_ops)
        me = MemberInfo(
            member_id(config.peer_urls, config.cluster_token), config.name, list(config.peer_urls)
        )
        self.members: list[MemberInfo] = [me]
        self.cluster_id = cluster_id([me.id])
        self.leader_id = me.id
        self.raft_term = 2  # a fresh single-member etcd leads in term 2
        self.raft_index = 4  # ... after four bootstrap entries
        self.alarms: list[tuple[int, int]] = []  # (member id, AlarmType)
        self._ids = _IdGenerator(me.id)
        self._lease_added: asyncio.Event | None = None  # set up by start()
        self._expiry_task: asyncio.Task[None] | None = None

    # ---- raft-like bookkeeping ----

    def committed(self) -> None:
        """Count one applied proposal (a write, a lease grant or revoke, an alarm)."""
        self.raft_index += 1

    def next_id(self) -> int:
        return self._ids.next()

    # ---- alarms ----

    def alarm_active(self, alarm: int) -> bool:
        return any(a == alarm for _, a in self.alarms)

    def check_writable(self, writes: bool = True) -> None:
        """Refuse a proposal as etcd does while an alarm is raised.

        CORRUPT stops every proposal; NOSPACE stops those that add data (``writes``).
        """
        if self.alarm_active(rpc_pb2.CORRUPT):
            raise ServerError(E.CORRUPT)
        if writes and self.alarm_active(rpc_pb2.NOSPACE):
            raise ServerError(E.NO_SPACE)

    def alarm(self, r: rpc_pb2.AlarmRequest) -> rpc_pb2.AlarmResponse:
        resp = rpc_pb2.AlarmResponse()
        if r.action == rpc_pb2.AlarmRequest.GET:
            for mid, alarm in self.alarms:
                if r.alarm in (rpc_pb2.NONE, alarm):
                    resp.alarms.add(memberID=mid, alarm=alarm)
        elif r.action == rpc_pb2.AlarmRequest.ACTIVATE:
            if r.alarm != rpc_pb2.NONE:
                if (r.memberID, r.alarm) not in self.alarms:
                    self.alarms.append((r.memberID, r.alarm))
                resp.alarms.add(memberID=r.memberID, alarm=r.alarm)
        elif r.action == rpc_pb2.AlarmRequest.DEACTIVATE and (r.memberID, r.alarm) in self.alarms:
            self.alarms.remove((r.memberID, r.alarm))
            resp.alarms.add(memberID=r.memberID, alarm=r.alarm)
        return resp

    # ---- leases ----

    def lease_granted(self) -> None:
        """Wake the expiry task: the new lease may expire before anything it waits for."""
        if self._lease_added is not None:
            self._lease_added.set()

    def start(self) -> None:
        """Start background work (lease expiry) on the running event loop."""
        if self._expiry_task is None:
            self._lease_added = asyncio.Event()
            self._expiry_task = asyncio.ensure_future(self._expire_leases())

    async def stop(self) -> None:
        task, self._expiry_task = self._expiry_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _expire_leases(self) -> None:
        assert self._lease_added is not None
        while True:
            delay = self.lessor.next_expiry_in()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lease_added.wait(), delay)
            self._lease_added.clear()
            for lease_id in self.lessor.expired():
                with contextlib.suppress(ServerError):
                    self.applier.lease_revoke(lease_id)
                    self.committed()
