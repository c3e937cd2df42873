"""What a member's server asks of the cluster it belongs to (the Raft driver, in
``cluster/``), so that the server needs to know nothing of Raft.

A member that runs alone has none: it logs and applies its proposals itself
(``server.py``). A cluster member's server hands every proposal, encoded as etcd's
InternalRaftRequest, to its replicator, and applies what the replicator says was
committed, in log order, on every member (``EtcdServer.apply_entry``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from etcd3py._proto import rpc_pb2

from ..apply.applier import Response


class Replicator(Protocol):
    election_timeout: float  # seconds

    def propose(self, request_id: int, data: bytes) -> Awaitable[Response]:
        """Replicate ``data``; the answer is what applying it here gave (or raised)."""

    async def read_barrier(self) -> None:
        """Return once this member applied every entry committed when it was called
        (etcd's ReadIndex): what a linearizable read waits for."""

    def is_leader(self) -> bool: ...

    def has_leader(self) -> bool: ...

    async def renew_lease(self, lease_id: int) -> int:
        """A keep-alive, renewed by the leader (forwarded there from a follower)."""

    async def lease_time_to_live(
        self, r: rpc_pb2.LeaseTimeToLiveRequest
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        """Asked of the leader, whose deadlines are the real ones."""

    async def move_leader(self, target_id: int) -> None: ...

    async def member_add(
        self, peer_urls: list[str], is_learner: bool
    ) -> rpc_pb2.MemberAddResponse: ...

    async def member_remove(self, member_id: int) -> rpc_pb2.MemberRemoveResponse: ...

    async def member_update(
        self, member_id: int, peer_urls: list[str]
    ) -> rpc_pb2.MemberUpdateResponse: ...

    async def member_promote(self, member_id: int) -> rpc_pb2.MemberPromoteResponse: ...
