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
the raft counters, the auth store; it drives lease expiry (expired leases are revoked
by proposals, as etcd's leader does) and forgets idle auth tokens. One member serves
it today.

Auth: a proposal carries the caller's user and auth revision (resolved from the
caller's credentials, ``auth/caller.py``, when it is proposed; a bad token fails it
then) and is checked when applied (``apply/auth.py``); a read is checked before it
is read, as etcd's doSerialize does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, overload

from google.protobuf.message import Message
from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..apply.applier import Applier, ApplyTable, Response
from ..apply.auth import AuthApplier, check_txn
from ..apply.gates import gated
from ..apply.txn import is_txn_read_only
from ..auth import tokens
from ..auth.caller import CALLER, AuthInfo
from ..auth.passwords import password_matches
from ..auth.providers import provider
from ..auth.request import InternalAuthenticate
from ..auth.store import ROOT_USER, AuthStore
from ..errors import ServerError
from ..lease.lessor import LeaseClock, Lessor, NotPrimaryError
from ..mvcc.store import Store
from ..storage.backend_size import BackendSize
from . import proposal
from .alarms import AlarmStore
from .config import ServerConfig
from .ids import IdGenerator
from .log import Answer, Log, NullLog, settled
from .membership import (
    ClusterVersionSet,
    MemberAttrSet,
    MemberInfo,
    cluster_id,
    member_id,
)
from .metrics import ServerMetrics
from .proposal import Proposal
from .quota import SpaceQuota
from .replication import Replicator

_ALONE = E.ErrorSpec(
    StatusCode.UNIMPLEMENTED,
    "etcd3py server_ref: this member was started alone (no --initial-cluster, no peer "
    "URLs): it cannot change its membership; start it as a cluster member "
    "(EmbeddedCluster, or --initial-cluster with --listen-peer-urls)",
)


class EtcdServer:
    """The state machine of a (for now single-member) cluster, and its two paths."""

    def __init__(self, config: ServerConfig, log: Log | None = None) -> None:
        self.config = config
        self.clock = LeaseClock()  # the lessor's time, which a test may move forward
        self.member = MemberInfo(
            member_id(config.peer_urls, config.cluster_token),
            config.name,
            list(config.peer_urls),
            list(config.client_urls),
        )
        self.members = [self.member]
        self.cluster_id = cluster_id([self.member.id])
        self.leader_id = self.member.id
        self.metrics = ServerMetrics()
        self.metrics.leader_changes = 1  # alone, the member leads from its start
        # ids are never reset: a lease id granted before a reset() is never granted
        # again, so a client still renewing it is told it is gone
        self._ids = IdGenerator(self.member.id)
        self._log: Log = log if log is not None else NullLog()
        self._pending: collections.deque[
            tuple[int, Proposal, AuthInfo | None, asyncio.Future[Response]]
        ] = collections.deque()
        self.on_applied: Callable[[int], None] | None = None  # (a durable log's snapshots)
        # a cluster member's: its proposals go through Raft (None: this member logs
        # and applies its proposals itself)
        self.replicator: Replicator | None = None
        self.cluster_version: str | None = None  # a cluster's, once its leader decided it
        self._max_request_bytes = config.max_request_bytes
        self._reset_listeners: list[Callable[[], None]] = []
        self._lease_added: asyncio.Event | None = None  # set up by start()
        self._expiry_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._fresh_state()

    def _fresh_state(self) -> None:
        """The replicated state of a new member: no key, lease, user or alarm, revision
        1, and the raft counters of a fresh single member (made anew by ``reset``)."""
        config = self.config
        self.backend = BackendSize()  # etcd's db Size and SizeInUse, modelled
        self.lessor = Lessor(self.backend, config.min_lease_ttl, self.clock)
        self.store = Store(self.lessor, self.backend)
        self.applier = Applier(self.store, self.lessor)
        self.auth = AuthStore(
            provider(config.auth_token, config.auth_token_ttl), config.bcrypt_cost
        )
        self.auth_applier = AuthApplier(self.auth, self.store, self.lessor, self._index)
        self.raft_term = 2  # a fresh single-member etcd leads in term 2
        self.raft_index = 4  # ... after four bootstrap entries
        self.applied_index = self.raft_index
        self.alarms = AlarmStore()
        self.quota = SpaceQuota(
            config.quota_backend_bytes, self.backend, self.propose, self.member.id
        )
        self._ungated: ApplyTable = self.auth_applier.guard(
            {
                **self.applier.table(),
                rpc_pb2.LeaseGrantRequest: self._apply_lease_grant,
                rpc_pb2.AlarmRequest: self._apply_alarm,
                MemberAttrSet: self._apply_member_attributes,
                ClusterVersionSet: self._apply_cluster_version,
                **self.auth_applier.table(),
            }
        )
        self._apply: ApplyTable = self._ungated
        self._readers: dict[type[Message], Callable[[Any], Response]] = {
            rpc_pb2.RangeRequest: self.applier.range,
            rpc_pb2.TxnRequest: self.applier.txn,
        }

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
    @overload
    def propose(self, p: Proposal, *, internal: bool = False) -> Answer[Response]: ...
    def propose(self, p: Proposal, *, internal: bool = False) -> Answer[Response]:
        """The one write path: size check -> log -> apply -> answer (see the module).

        It runs as the caller (its credentials, checked now; an Authenticate carries
        none), or as root for the member's own ``internal`` proposals (etcd's WithRoot).

        A proposal that fails when applied (a missing lease, a raised alarm) was
        logged: it counts in the raft index and changes nothing, as in etcd. With a
        log that writes to disk, the answer is a future: the proposal is applied, in
        log order, once its entry is durable (``durable``).
        """
        if internal:
            who = AuthInfo(ROOT_USER, self.auth.revision) if self.auth.enabled else None
        else:
            who = None if isinstance(p, InternalAuthenticate) else self.caller()
        if proposal.size(p, who) > self._max_request_bytes:
            raise ServerError(E.REQUEST_TOO_LARGE)
        if self.replicator is not None:
            request_id = self.next_request_id()
            return self.replicator.propose(request_id, proposal.encode(p, request_id, who))
        self.raft_index += 1
        if self._log.append(self.raft_index, p, who):
            self.applied_index = self.raft_index
            resp = self.auth_applier.applying(self._apply[type(p)], p, who)
            self._stamp(resp.header)
            return resp
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending.append((self.raft_index, p, who, answer))
        return answer

    def apply_entry(self, index: int, data: bytes) -> tuple[int, Response | ServerError]:
        """Apply a committed entry of the cluster's log (every member applies every one,
        in order): its request id, and the response or the error it gave."""
        request_id, p, who = proposal.decode(data)
        self.applied_index = index
        try:
            resp = self.auth_applier.applying(self._apply[type(p)], p, who)
        except ServerError as err:
            return request_id, err
        self._stamp(resp.header)
        return request_id, resp

    @property
    def pending_proposals(self) -> int:
        """Proposals logged here and not yet applied (etcd_server_proposals_pending)."""
        return len(self._pending)

    def next_request_id(self) -> int:
        """A request id no other member uses (etcd's: the member id in its high bits)."""
        return self._ids.next()

    def wake_lease_expiry(self) -> None:
        """Leases got new deadlines (this member began to lead): look again."""
        if self._lease_added is not None:
            self._lease_added.set()

    def caller(self) -> AuthInfo | None:
        """Who the request being served runs as (an invalid token fails it)."""
        return self.auth.info_from(CALLER.get(), certificate_names=self.config.client_cert_auth)

    def _index(self) -> int:
        return self.applied_index

    def durable(self, up_to: int) -> None:
        """The log made every entry up to ``up_to`` durable: apply them, in order, and
        answer them (an answer nobody awaits any more is dropped; the entry applies)."""
        pending = self._pending
        while pending and pending[0][0] <= up_to:
            index, p, who, answer = pending.popleft()
            self.applied_index = index
            try:
                resp = self.auth_applier.applying(self._apply[type(p)], p, who)
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
        self.metrics.proposals_failed += len(pending)
        for *_, answer in pending:
            if not answer.done():
                answer.set_exception(error)
        self.raft_index = self.applied_index

    def abandon_pending(self) -> None:
        """A crash: entries not yet durable are never answered (their callers see the
        connection go) and never applied here."""
        pending, self._pending = self._pending, collections.deque()
        for *_, answer in pending:
            answer.cancel()

    def replay(self, index: int, p: Proposal, who: AuthInfo | None = None) -> None:
        """Apply a logged entry again at start-up (no log, no answer; its own failure,
        as a missing lease, was the original answer and changes nothing again). An
        Authenticate entry brings its token back, as in etcd 3.5.1."""
        self.raft_index = self.applied_index = index
        with contextlib.suppress(ServerError):
            self.auth_applier.applying(self._apply[type(p)], p, who)

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
        """The one read path: a Range, or a read-only Txn, on the applied state, once
        the caller's permissions allow it. In a cluster a linearizable read first waits
        until this member applied what was committed when it came (ReadIndex); a
        serializable one is served from what the member has."""
        if self.replicator is not None and not _serializable(r):
            return self._read_after(self.replicator.read_barrier(), r)
        return self._read_now(r)

    async def _read_after(
        self, barrier: Awaitable[None], r: rpc_pb2.RangeRequest | rpc_pb2.TxnRequest
    ) -> Response:
        await barrier
        return self._read_now(r)

    def _read_now(self, r: rpc_pb2.RangeRequest | rpc_pb2.TxnRequest) -> Response:
        who = self.caller()
        if isinstance(r, rpc_pb2.RangeRequest):
            self.auth.check_range(who, r.key, r.range_end)
        else:
            check_txn(self.auth, who, r)
        resp = self._readers[type(r)](r)
        if who is not None and who.revision and who.revision != self.auth.revision:
            # etcd's doSerialize checks this after reading, whether auth is on or not:
            # only a token naming its own revision (a JWT) can fail it
            raise ServerError(E.AUTH_OLD_REVISION)
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

    def _apply_member_attributes(self, r: MemberAttrSet) -> rpc_pb2.MemberUpdateResponse:
        for member in self.members:
            if member.id == r.member_id:
                member.name, member.client_urls = r.name, list(r.client_urls)
        return rpc_pb2.MemberUpdateResponse(header=self.header(0))

    def _apply_cluster_version(self, r: ClusterVersionSet) -> rpc_pb2.MemberUpdateResponse:
        self.cluster_version = r.version
        return rpc_pb2.MemberUpdateResponse(header=self.header(0))

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

    async def move_leader(self, target_id: int) -> None:
        if self.replicator is not None:
            await self.replicator.move_leader(target_id)
            return
        target = next((m for m in self.members if m.id == target_id), None)
        if target is None or target.is_learner:
            raise ServerError(E.BAD_LEADER_TRANSFEREE)
        # one member leads already; a transfer to itself is done at once, as in raft

    def cluster(self) -> Replicator:
        """The cluster this member belongs to, for membership changes (a member started
        alone has none: it cannot grow into a cluster)."""
        if self.replicator is None:
            raise ServerError(_ALONE)
        return self.replicator

    def lease_time_to_live(
        self, r: rpc_pb2.LeaseTimeToLiveRequest
    ) -> Answer[rpc_pb2.LeaseTimeToLiveResponse]:
        """A lease's remaining TTL, as the leader (whose deadlines count) reports it."""
        if self.replicator is not None and not self.replicator.is_leader():
            return self.replicator.lease_time_to_live(r)
        return self.local_time_to_live(r)

    def local_time_to_live(
        self, r: rpc_pb2.LeaseTimeToLiveRequest
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        lessor = self.lessor
        lease = lessor.lookup(r.ID)
        if lease is None:
            return rpc_pb2.LeaseTimeToLiveResponse(header=self.header(), ID=r.ID, TTL=-1)
        resp = rpc_pb2.LeaseTimeToLiveResponse(
            header=self.header(),
            ID=r.ID,
            TTL=lessor.remaining_seconds(lease),
            grantedTTL=lease.ttl,
        )
        if r.keys:
            resp.keys.extend(sorted(lease.keys))
        return resp

    async def renew_lease(self, lease_id: int) -> int:
        """A keep-alive: renewed here when this member leads, else by the leader."""
        try:
            ttl = self.lessor.renew(lease_id)
            self.metrics.leases_renewed += 1  # as etcd's lessor: renewals by the leader
            return ttl
        except NotPrimaryError:
            if self.replicator is None:
                raise
            return await self.replicator.renew_lease(lease_id)

    # ---- auth requests that do work before they are proposed ----

    async def authenticate(self, r: rpc_pb2.AuthenticateRequest) -> rpc_pb2.AuthenticateResponse:
        """Check the password (bcrypt, off the event loop), then propose the token: again
        if the auth store changed meanwhile (etcd's Authenticate)."""
        while True:
            checked = await self._check_password(r.name, r.password)
            p = InternalAuthenticate(r.name, self.auth.tokens.new_prefix())
            resp = await settled(self.propose(p))
            if checked == self.auth.revision:
                assert isinstance(resp, rpc_pb2.AuthenticateResponse)
                return resp

    async def _check_password(self, name: str, password: str) -> int:
        revision, hashed = self.auth.password_of(name)
        if not await asyncio.to_thread(password_matches, hashed, password):
            raise ServerError(E.AUTH_FAILED)
        return revision

    async def user_add(self, r: rpc_pb2.AuthUserAddRequest) -> Response:
        """Propose a new user, its password hashed first (etcd's UserAdd)."""
        if not r.options.no_password:
            r.hashedPassword = await asyncio.to_thread(self.auth.hashed, r.password)
            r.password = ""
        return await settled(self.propose(r))

    async def user_change_password(self, r: rpc_pb2.AuthUserChangePasswordRequest) -> Response:
        """Propose a new password, hashed first (an empty one is not hashed: the user is
        left with an empty hash, which no password matches, as in etcd)."""
        if r.password:
            r.hashedPassword = await asyncio.to_thread(self.auth.hashed, r.password)
            r.password = ""
        return await settled(self.propose(r))

    def read_permitted(self, key: bytes, range_end: bytes) -> bool:
        """Whether the caller may read the range (a bad token may not: etcd's watch check)."""
        try:
            self.auth.check_range(self.caller(), key, range_end)
        except ServerError:
            return False
        return True

    def check_admin(self) -> None:
        """The caller must be root (when auth is enabled)."""
        self.auth.check_admin(self.caller())

    # ---- for tests: reset and time control (EmbeddedServer's) ----

    def reset(self) -> None:
        """Bring a member serving alone from memory back to a fresh state, in place:
        every key and its history, lease, user, role and alarm goes, auth is off, the
        revision is 1 again, the lease clock is the real one again. Member and cluster
        ids stay. Every call that waits on the old state (Watch and LeaseKeepAlive
        streams, Lock, Campaign, Observe) is told first, by its reset listener, and
        ends (see ``api/registry.py: ended_by_reset``)."""
        if self.replicator is not None or not isinstance(self._log, NullLog):
            raise RuntimeError("reset() is for a member serving alone from memory")
        listeners, self._reset_listeners = self._reset_listeners, []
        for listener in listeners:
            listener()
        self.clock.offset = 0.0
        self._fresh_state()
        self.wake_lease_expiry()

    def add_reset_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (once) when ``reset()`` discards the state."""
        self._reset_listeners.append(listener)

    def remove_reset_listener(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):  # gone already: reset() called it
            self._reset_listeners.remove(listener)

    async def expire_leases(self) -> None:
        """Every lease expires now, revoked as expiry revokes it; returns once applied."""
        self.lessor.expire_all()
        await self._revoke_expired()

    async def advance_clock(self, seconds: float) -> None:
        """Move the lease clock ``seconds`` forward; the leases that ran out by then are
        revoked before this returns, the others keep what is left of their TTL."""
        self.clock.advance(seconds)
        await self._revoke_expired()
        self.wake_lease_expiry()  # the next deadline came nearer

    # ---- background work ----

    def start(self) -> None:
        """Start background work (lease expiry, the token sweep) on the running loop."""
        if self._expiry_task is None:
            self._lease_added = asyncio.Event()
            self._expiry_task = asyncio.ensure_future(self._expiry_loop())
            self._sweep_task = asyncio.ensure_future(self._sweep_tokens())

    async def stop(self) -> None:
        for task in (self._expiry_task, self._sweep_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._expiry_task = self._sweep_task = None

    async def _sweep_tokens(self) -> None:
        while True:
            await asyncio.sleep(tokens.SWEEP_INTERVAL)
            self.auth.tokens.sweep()

    async def _expiry_loop(self) -> None:
        """Revoke each expired lease by a proposal, as etcd's leader does."""
        assert self._lease_added is not None
        while True:
            delay = self.lessor.next_expiry_in()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lease_added.wait(), delay)
            self._lease_added.clear()
            await self._revoke_expired()

    async def _revoke_expired(self) -> None:
        """Revoke every lease past its deadline by a proposal, as etcd's leader does (in
        memory each applies at once: nothing runs between them)."""
        for lease_id in self.lessor.expired():
            with contextlib.suppress(ServerError):
                revoke = rpc_pb2.LeaseRevokeRequest(ID=lease_id)
                await settled(self.propose(revoke, internal=True))


def _serializable(r: rpc_pb2.RangeRequest | rpc_pb2.TxnRequest) -> bool:
    """Whether a read may be served from this member's state as it is (etcd's
    serializable reads; a read-only Txn is when every range in it is)."""
    if isinstance(r, rpc_pb2.RangeRequest):
        return r.serializable
    return all(_serializable_op(op) for op in (*r.success, *r.failure))


def _serializable_op(op: rpc_pb2.RequestOp) -> bool:
    # etcd's isTxnSerializable: ranges only, each serializable (a nested txn is not)
    return op.WhichOneof("request") == "request_range" and op.request_range.serializable
