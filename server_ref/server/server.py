"""EtcdServer: one member's server, with the one write path and the one read path.

Write path (etcd's processInternalRaftRequestOnce and apply loop), in ``propose``:
size check -> log, as the next raft index -> apply (through the alarm gates) ->
answer. Request checks (``api/checks.py``) come before it, as etcd's v3rpc checks
come before its server. Read path, in ``read``: apply the read to the current state
-> answer; on one member every read is linearizable as it stands, and this is where
a cluster's ReadIndex wait will go.

Both answer without awaiting when nothing makes them wait, so a request runs
atomically on the event loop (see ``log.py`` for writes that wait for a WAL).

The server also holds what etcd replicates beside the key space: alarms, members,
the raft counters, and it drives lease expiry (expired leases are revoked by
proposals, as etcd's leader does). One member serves it today.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from typing import Any, overload

from google.protobuf.message import Message
from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..apply.applier import Applier, ApplyTable, Response
from ..apply.gates import gated
from ..apply.txn import is_txn_read_only
from ..errors import ServerError
from ..lease.lessor import Lessor
from ..mvcc.store import Store
from ..storage.backend_size import BackendSize
from . import proposal
from .alarms import AlarmStore
from .config import ServerConfig
from .ids import IdGenerator
from .log import Answer, Log, NullLog, settled
from .membership import MemberInfo, cluster_id, member_id
from .proposal import Proposal
from .quota import SpaceQuota


class EtcdServer:
    """The state machine of a (for now single-member) cluster, and its two paths."""

    def __init__(self, config: ServerConfig, log: Log | None = None) -> None:
        self.config = config
        self.backend = BackendSize()  # etcd's db Size and SizeInUse, modelled
        self.lessor = Lessor(self.backend, config.min_lease_ttl)
        self.store = Store(self.lessor, self.backend)
        self.applier = Applier(self.store, self.lessor)
        self.member = MemberInfo(
            member_id(config.peer_urls, config.cluster_token),
            config.name,
            list(config.peer_urls),
            list(config.client_urls),
        )
        self.members = [self.member]
        self.cluster_id = cluster_id([self.member.id])
        self.leader_id = self.member.id
        self.raft_term = 2  # a fresh single-member etcd leads in term 2
        self.raft_index = 4  # ... after four bootstrap entries
        self.alarms = AlarmStore()
        self.quota = SpaceQuota(
            config.quota_backend_bytes, self.backend, self.propose, self.member.id
        )
        self._ids = IdGenerator(self.member.id)
        self._log: Log = log if log is not None else NullLog()
        self.applied_index = self.raft_index
        self._pending: collections.deque[tuple[int, Proposal, asyncio.Future[Response]]] = (
            collections.deque()
        )
        self.on_applied: Callable[[int], None] | None = None  # (a durable log's snapshots)
        self._max_request_bytes = config.max_request_bytes
        self._ungated: ApplyTable = {
            **self.applier.table(),
            rpc_pb2.LeaseGrantRequest: self._apply_lease_grant,
            rpc_pb2.AlarmRequest: self._apply_alarm,
        }
        self._apply: ApplyTable = self._ungated
        self._readers: dict[type[Message], Callable[[Any], Response]] = {
            rpc_pb2.RangeRequest: self.applier.range,
            rpc_pb2.TxnRequest: self.applier.txn,
        }
        self._lease_added: asyncio.Event | None = None  # set up by start()
        self._expiry_task: asyncio.Task[None] | None = None

    # ---- the write path ----

    @overload
    def propose(self, p: rpc_pb2.PutRequest) -> Answer[rpc_pb2.PutResponse]: ...
    @overload
    def propose(self, p: rpc_pb2.DeleteRangeRequest) -> Answer[rpc_pb2.DeleteRangeResponse]: ...
    @overload
    def propose(self, p: rpc_pb2.TxnRequest) -> Answer[rpc_pb2.TxnResponse]: ...
    @overload
    def propose(self, p: rpc_pb2.CompactionRequest) -> Answer[rpc_pb2.CompactionResponse]: ...
    @overload
    def propose(self, p: rpc_pb2.LeaseGrantRequest) -> Answer[rpc_pb2.LeaseGrantResponse]: ...
    @overload
    def propose(self, p: rpc_pb2.LeaseRevokeRequest) -> Answer[rpc_pb2.LeaseRevokeResponse]: ...
    @overload
    def propose(self, p: rpc_pb2.AlarmRequest) -> Answer[rpc_pb2.AlarmResponse]: ...
    def propose(self, p: Proposal) -> Answer[Response]:
        """The one write path: size check -> log -> apply -> answer (see the module).

        A proposal that fails when applied (a missing lease, a raised alarm) was
        logged: it counts in the raft index and changes nothing, as in etcd. With a
        log that writes to disk, the answer is a future: the proposal is applied, in
        log order, once its entry is durable (``durable``).
        """
        if proposal.size(p) > self._max_request_bytes:
            raise ServerError(E.REQUEST_TOO_LARGE)
        self.raft_index += 1
        if self._log.append(self.raft_index, p):
            self.applied_index = self.raft_index
            resp = self._apply[type(p)](p)
            self._stamp(resp.header)
            return resp
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending.append((self.raft_index, p, answer))
        return answer

    def durable(self, up_to: int) -> None:
        """The log made every entry up to ``up_to`` durable: apply them, in order, and
        answer them (an answer nobody awaits any more is dropped; the entry applies)."""
        pending = self._pending
        while pending and pending[0][0] <= up_to:
            index, p, answer = pending.popleft()
            self.applied_index = index
            try:
                resp = self._apply[type(p)](p)
            except ServerError as err:
                if not answer.done():
                    answer.set_exception(err)
                continue
            self._stamp(resp.header)
            if not answer.done():
                answer.set_result(resp)
        if self.on_applied is not None:
            self.on_applied(self.applied_index)

    def log_failed(self, reason: str) -> None:
        """The log could not make the pending entries durable: none of them applies,
        each is answered with the reason, and their indexes are taken again."""
        error = ServerError(E.ErrorSpec(StatusCode.UNAVAILABLE, f"etcd3py server_ref: {reason}"))
        pending, self._pending = self._pending, collections.deque()
        for _, _, answer in pending:
            if not answer.done():
                answer.set_exception(error)
        self.raft_index = self.applied_index

    def abandon_pending(self) -> None:
        """A crash: entries not yet durable are never answered (their callers see the
        connection go) and never applied here."""
        pending, self._pending = self._pending, collections.deque()
        for _, _, answer in pending:
            answer.cancel()

    def replay(self, index: int, p: Proposal) -> None:
        """Apply a logged entry again at start-up (no log, no answer; its own failure,
        as a missing lease, was the original answer and changes nothing again)."""
        self.raft_index = self.applied_index = index
        with contextlib.suppress(ServerError):
            self._apply[type(p)](p)

    def restarted(self) -> None:
        """What a restart does to the raft state, as etcd 3.5.1 does on one member: a
        new term, two entries (the new leader's empty entry and the member's published
        attributes), and every lease back to its full TTL (checked against etcd)."""
        self.raft_term += 1
        self.raft_index += 2
        self.applied_index = self.raft_index
        self.lessor.promote()

    def adopt_identity(
        self, member_id: int, cluster_id: int, name: str, peer_urls: list[str]
    ) -> None:
        """Take the identity recorded in a data directory: as etcd, a restarted member
        keeps its ids whatever its --initial-* flags say now."""
        self.member.id, self.member.name, self.member.peer_urls = member_id, name, peer_urls
        self.cluster_id = cluster_id
        self.leader_id = member_id
        self._ids = IdGenerator(member_id)

    def use_log(self, log: Log) -> None:
        """Log every proposal from now on to ``log`` (after a replay, which logs nothing)."""
        self._log = log

    def txn(self, r: rpc_pb2.TxnRequest) -> Answer[rpc_pb2.TxnResponse]:
        """A read-only transaction takes the read path, any other is proposed (etcd's Txn)."""
        if is_txn_read_only(r):
            return self.read(r)
        return self.propose(r)

    def lease_grant(self, r: rpc_pb2.LeaseGrantRequest) -> Answer[rpc_pb2.LeaseGrantResponse]:
        """Propose a grant, with an id picked here first when the request has none."""
        if (refusal := self.quota.check(r)) is not None:  # first, as etcd's quota lease
            return refusal  # server wraps its lease server
        if r.ID == 0:
            r.ID = self._ids.next()
            while self.lessor.lookup(r.ID) is not None:
                r.ID = self._ids.next()
        return self.propose(r)

    # ---- the read path ----

    @overload
    def read(self, r: rpc_pb2.RangeRequest) -> Answer[rpc_pb2.RangeResponse]: ...
    @overload
    def read(self, r: rpc_pb2.TxnRequest) -> Answer[rpc_pb2.TxnResponse]: ...
    def read(self, r: rpc_pb2.RangeRequest | rpc_pb2.TxnRequest) -> Answer[Response]:
        """The one read path: a Range, or a read-only Txn, on the applied state."""
        resp = self._readers[type(r)](r)
        self._stamp(resp.header)
        return resp

    # ---- answers ----

    def _stamp(self, header: rpc_pb2.ResponseHeader) -> None:
        """Complete a header whose revision the applier has set."""
        header.cluster_id = self.cluster_id
        header.member_id = self.member.id
        header.raft_term = self.raft_term

    def header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        """A response header at ``revision`` (None: the current revision)."""
        return rpc_pb2.ResponseHeader(
            cluster_id=self.cluster_id,
            member_id=self.member.id,
            revision=self.store.rev if revision is None else revision,
            raft_term=self.raft_term,
        )

    # ---- applied here: what the server itself keeps ----

    def _apply_alarm(self, r: rpc_pb2.AlarmRequest) -> rpc_pb2.AlarmResponse:
        resp = self.alarms.apply(r)
        resp.header.revision = self.store.rev
        if r.action != rpc_pb2.AlarmRequest.GET:
            self.gate_by_alarms()
        return resp

    def gate_by_alarms(self) -> None:
        """Apply proposals through the gates the raised alarms call for (after the
        alarm table changed: an Alarm proposal, a restored state)."""
        self._apply = gated(self._ungated, self.alarms.types())

    def _apply_lease_grant(self, r: rpc_pb2.LeaseGrantRequest) -> rpc_pb2.LeaseGrantResponse:
        resp = self.applier.lease_grant(r)
        if self._lease_added is not None:  # the new lease may expire before any other
            self._lease_added.set()
        return resp

    # ---- other requests on the server's state ----

    def move_leader(self, target_id: int) -> None:
        target = next((m for m in self.members if m.id == target_id), None)
        if target is None or target.is_learner:
            raise ServerError(E.BAD_LEADER_TRANSFEREE)
        # one member leads already; a transfer to itself is done at once, as in raft

    # ---- lease expiry ----

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
        """Revoke each expired lease by a proposal, as etcd's leader does."""
        assert self._lease_added is not None
        while True:
            delay = self.lessor.next_expiry_in()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lease_added.wait(), delay)
            self._lease_added.clear()
            for lease_id in self.lessor.expired():
                with contextlib.suppress(ServerError):
                    await settled(self.propose(rpc_pb2.LeaseRevokeRequest(ID=lease_id)))
