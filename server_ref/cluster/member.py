"""A cluster member's Raft driver: it ticks the node, persists, sends and applies what
each Ready asks, and is the server's ``Replicator``.

The loop (``_run``) takes one Ready at a time, in the order etcd-io/raft asks: persist
(the storage's ``save`` returns once durable) -> send -> install a snapshot, apply the
committed entries on the server, answer the reads -> advance. Proposals and messages
step the node between Readies; each wakes the loop.

Every member applies every committed entry in log order; the member that proposed an
entry answers its caller with what applying it gave (a request id in the entry, as
etcd's wait registry). Leases are the leader's: only its lessor counts deadlines
(promoted, every lease at its full TTL again, when it becomes leader; demoted when it
stops); followers forward keep-alives and TTL questions to it over the peer transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..apply.applier import Response
from ..errors import ServerError
from ..lease.lessor import NotPrimaryError
from ..raft import (
    NO_NODE,
    ConfChange,
    ConfChangeType,
    Entry,
    EntryKind,
    ProposalDroppedError,
    RaftNode,
    Ready,
    Role,
)
from ..raft.messages import Message, decode_conf_change
from ..server import state
from ..server.log import settled
from ..server.membership import ClusterVersionSet, MemberAttrSet, MemberInfo
from ..server.server import EtcdServer
from ..server.state import CLUSTER_VERSION
from ..storage.etcd_db import read_db
from . import members as rules
from .storage import RaftStorage
from .timing import Timing
from .transport import PeerHandler, PeerRequestError, PeerUnreachableError, Transport

log = logging.getLogger("etcd3py.server_ref")

READ_RETRY = 0.5  # seconds before a read index round is asked again (etcd's 500 ms)
PEER_REQUEST_TIMEOUT = 1.0  # seconds for one forwarded request (lease renewal, TTL)
# the peer requests a member answers
LEASE_RENEW, LEASE_TTL, MEMBERS, PROMOTE = "lease_renew", "lease_ttl", "members", "promote"
CONNECTIVITY = "connectivity"
# a proposal made while the member knows no leader waits for one (etcd's raft takes no
# proposal then) until the request's deadline, then fails with Go's context error
CONTEXT_DEADLINE_EXCEEDED = E.ErrorSpec(StatusCode.UNKNOWN, "context deadline exceeded")
REMOVED_STOP_DELAY = 1.0  # seconds a removed member serves on (etcd's stopWithDelay)
HEALTH_INTERVAL = 5.0  # seconds a peer must have been connected (etcd's HealthInterval)


class RaftMember(PeerHandler):
    """Drives ``node`` for ``server`` (see the module); ``start`` it on the member's loop."""

    def __init__(
        self,
        server: EtcdServer,
        node: RaftNode,
        storage: RaftStorage,
        timing: Timing,
        *,
        cluster_token: str,
        snapshot_count: int,
        make_transport: Callable[[RaftMember], Transport],
        removed: set[int] | None = None,
        seed_peers: dict[int, tuple[str, ...]] | None = None,
        on_removed: Callable[[], None] | None = None,
    ) -> None:
        """``on_removed``: called when the member must stop serving on its own (it was
        removed from the cluster, or ``fatal`` says what failed)."""
        self.server = server
        server.metrics.leader_changes = 0  # counted as raft elects (none yet)
        self.node = node
        self.storage = storage
        self.timing = timing
        self.election_timeout = timing.election_timeout
        self.cluster_token = cluster_token
        self.snapshot_count = snapshot_count
        self.removed: set[int] = removed if removed is not None else set()
        self.on_removed = on_removed
        # peers known before the log says who they are (the initial cluster, or the
        # members a joining member fetched): the leader must be answerable at once
        self._seed_peers = dict(seed_peers or {})
        self.transport = make_transport(self)
        self._waiting: dict[int, asyncio.Future[Response]] = {}
        self._applied_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._read_contexts = (str(i).encode() for i in itertools.count(1))
        self._read_next: asyncio.Future[int] | None = None  # the round readers join
        self._read_asked: tuple[bytes, asyncio.Future[int], float] | None = None
        self._leader_changed = asyncio.Event()
        self._runs: dict[int, tuple[float, float]] = {}  # peer -> (talking since, last)
        self._leader_elected_at = -math.inf  # when the leader we follow now was elected
        self._was_leader = False
        self._work = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshotting: asyncio.Task[None] | None = None
        self._snapshot_index = node.log.offset
        self.stopped = False
        # a deliberate bug, for proving a history checker catches stale reads
        self.stale_reads = False
        self._deciding = False
        self._leaderless_ticks = 0
        self._asking = False
        self.published = False  # its name and client URLs are in the members' lists
        self.fatal: str | None = None  # why the member stopped by itself, on an error

    # ---- running ----

    async def start(self) -> None:
        """Serve the cluster: the server now proposes through us."""
        self.server.replicator = self
        self.server.lessor.demote()  # until this member leads
        self._sync_status()
        self.transport.set_peers(self._peer_urls())
        await self.transport.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run()), loop.create_task(self._tick())]
        self._work.set()

    def publish(self) -> None:
        """Publish this member's name and client URLs through the log, as etcd does once
        it serves (retried until it is applied)."""
        self._spawn(self._publish())

    async def stop(self) -> None:
        self.stopped = True
        for task in [*self._tasks, self._snapshotting]:
            if task is not None:
                task.cancel()
        for task in [*self._tasks, self._snapshotting]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        await self.transport.stop()
        error = ServerError(E.STOPPED)
        waiting: list[asyncio.Future[Any]] = [*self._waiting.values()]
        waiting += [f for _, f in self._applied_waiters]
        waiting += [self._read_next] if self._read_next else []
        waiting += [self._read_asked[1]] if self._read_asked else []
        for future in waiting:
            if not future.done():
                future.set_exception(error)
                future.exception()  # told to whoever waits; nobody else must see it

    def _kick(self) -> None:
        self._work.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the loop, cancelled at stop (finished ones are let go)."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.get_running_loop().create_task(work))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.timing.tick)
            self.node.tick()
            self._sync_status()  # a tick may change the role without a Ready (check-quorum)
            self._retry_read()
            self._maybe_decide_version()
            self._maybe_ask_if_removed()
            self._kick()

    async def _run(self) -> None:
        try:
            while True:
                await self._work.wait()
                self._work.clear()
                while True:
                    ready = self.node.ready()
                    if not ready:
                        break
                    await self._handle(ready)
        except Exception as err:  # a log that cannot be written, a state that cannot load
            # etcd stops the process then: nothing it answers could be trusted
            log.exception("member %x cannot go on: it stops", self.node.id)
            self.fatal = f"{type(err).__name__}: {err}"
            self.stopped = True
            if self.on_removed is not None:
                self.on_removed()

    async def _handle(self, ready: Ready) -> None:
        if ready.send_first:  # a leader's: its followers write while it does
            self._send(ready.messages)
        if ready.snapshot is not None or ready.hard_state is not None or ready.entries:
            await self.storage.save(ready.snapshot, ready.hard_state, ready.entries)
        if not ready.send_first:
            self._send(ready.messages)
        if ready.snapshot is not None:
            self._install(ready.snapshot.data, ready.snapshot.index)
        for entry in ready.committed_entries:
            self._apply(entry)
        for read in ready.read_states:
            self._read_answered(read.context, read.index)
        self.node.advance(ready)
        self._sync_status()
        self._wake_applied()
        self._maybe_snapshot()

    def _send(self, messages: tuple[Message, ...]) -> None:
        for message in messages:
            self.transport.send(message)

    # ---- applying ----

    def _apply(self, entry: Entry) -> None:
        server = self.server
        if entry.index <= server.applied_index:
            return  # in the snapshot already
        if entry.kind is EntryKind.CONF_CHANGE:
            self._apply_conf_change(entry)
        elif entry.data:
            request_id, result = server.apply_entry(entry.index, entry.data)
            waiter = self._waiting.pop(request_id, None)
            if waiter is not None and not waiter.done():
                if isinstance(result, ServerError):
                    waiter.set_exception(result)
                else:
                    waiter.set_result(result)
        server.applied_index = entry.index

    def _apply_conf_change(self, entry: Entry) -> None:
        conf = decode_conf_change(entry.data)
        change = rules.Change.of(conf)
        waiter = self._waiting.pop(change.request_id, None)
        members = self.server.members
        try:
            rules.validate(members, self.removed, change)
        except ServerError as err:
            if waiter is not None and not waiter.done():
                waiter.set_exception(err)
            return
        rules.apply(members, self.removed, change, self.server.member)
        self.node.apply_conf_change(conf)
        self.transport.set_peers(self._peer_urls())
        if waiter is not None and not waiter.done():
            waiter.set_result(rpc_pb2.MemberListResponse(members=[m.to_pb() for m in members]))
        if conf.node_id == self.node.id and conf.type is ConfChangeType.REMOVE_NODE:
            log.warning("member %x was removed from the cluster: it stops", self.node.id)
            self.stopped = True
            if self.on_removed is not None:  # after a while, so that answers get out
                asyncio.get_running_loop().call_later(REMOVED_STOP_DELAY, self.on_removed)

    def _install(self, data: bytes, index: int) -> None:
        """Replace the whole state with the leader's snapshot."""
        self.removed = load_snapshot(self.server, data, index, serving=True)
        self.transport.set_peers(self._peer_urls())
        if self.node.role is not Role.LEADER:
            self.server.lessor.demote()

    def _sync_status(self) -> None:
        """What Status and headers report, and the lessor's role, after each step."""
        node, server = self.node, self.server
        server.raft_term = node.term
        server.raft_index = node.log.committed
        if node.leader != server.leader_id:
            if node.leader != NO_NODE:
                self._leader_elected_at = asyncio.get_running_loop().time()
                server.metrics.leader_changes += 1
            server.leader_id = node.leader
            self._leader_changed.set()
            self._leader_changed = asyncio.Event()
        leading = node.role is Role.LEADER
        if leading and not self._was_leader:
            server.lessor.promote(self.timing.election_timeout)
            server.wake_lease_expiry()
        elif self._was_leader and not leading:
            server.lessor.demote()
        self._was_leader = leading

    def _peer_urls(self) -> dict[int, tuple[str, ...]]:
        peers = dict(self._seed_peers)
        peers.update((m.id, tuple(m.peer_urls)) for m in self.server.members)
        return {i: urls for i, urls in peers.items() if i != self.node.id and i not in self.removed}

    # ---- snapshots ----

    def _maybe_snapshot(self) -> None:
        due = self.server.applied_index - self._snapshot_index >= self.snapshot_count
        if self._snapshotting is None and not self.stopped and due:
            self._snapshotting = asyncio.get_running_loop().create_task(self._snapshot())

    async def _snapshot(self) -> None:
        try:
            server = self.server
            frozen = state.freeze(server)
            beside = rules.Beside(
                [rules.from_record(rules.record(m)) for m in server.members],
                set(self.removed),
                server.cluster_version,
            )
            db = await asyncio.to_thread(frozen.db)
            data = rules.pack_snapshot(beside, db)
            index = frozen.consistent_index
            if index <= self.node.log.offset or index > self.node.log.applied:
                return
            snapshot = self.node.compact(index, data)
            await self.storage.compact(snapshot)
            self._snapshot_index = index
        except Exception:  # the log still holds everything: the next one may do
            log.exception("member %x: snapshot not taken", self.node.id)
        finally:
            self._snapshotting = None

    # ---- the server's Replicator ----

    def is_leader(self) -> bool:
        return self.node.role is Role.LEADER

    def has_leader(self) -> bool:
        return self.node.leader != NO_NODE

    def propose(self, request_id: int, data: bytes) -> Awaitable[Response]:
        """Propose ``data``; the answer is what applying it gave. While this member
        knows no leader the proposal waits for one (etcd's raft node takes no proposal
        then), up to the request timeout."""
        if self.stopped:
            raise ServerError(E.STOPPED)
        if self.node.leader == NO_NODE:
            return self._propose_when_led(request_id, data)
        return self._answer(request_id, self._proposed(request_id, data))

    def _proposed(self, request_id: int, data: bytes) -> asyncio.Future[Response]:
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        try:
            self.node.propose(data)
        except ProposalDroppedError:
            del self._waiting[request_id]
            raise ServerError(E.PROPOSAL_DROPPED) from None
        self._kick()
        return waiter

    async def _propose_when_led(self, request_id: int, data: bytes) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.request_timeout
        try:
            await self._leader(self.timing.request_timeout)
        except ServerError:
            raise ServerError(CONTEXT_DEADLINE_EXCEEDED) from None
        waiter = self._proposed(request_id, data)
        return await self._answer(request_id, waiter, deadline - loop.time())

    async def _answer(
        self, request_id: int, waiter: asyncio.Future[Response], timeout: float | None = None
    ) -> Response:
        start = asyncio.get_running_loop().time()
        limit = self.timing.request_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), limit)
        except asyncio.TimeoutError:
            raise ServerError(self._timed_out(start)) from None
        finally:
            self._waiting.pop(request_id, None)

    def _timed_out(self, start: float) -> E.ErrorSpec:
        """etcd's parseProposeCtxErr: a request made shortly before a new leader was
        elected (within two election timeouts) timed out "possibly due to previous
        leader failure"; any other, "request timed out"."""
        elected = self._leader_elected_at
        if elected - 2 * self.timing.election_timeout < start < elected:
            return E.TIMEOUT_DUE_TO_LEADER_FAIL
        return E.TIMEOUT

    async def read_barrier(self) -> None:
        """Join the next ReadIndex round (rounds run one at a time, as etcd's read loop:
        a read that came while one was asked waits for the next), then wait until that
        index is applied here."""
        if self.stale_reads:
            return  # the deliberate bug: serve what this member has, as a serializable read
        if self._read_next is None:
            self._read_next = asyncio.get_running_loop().create_future()
            if self._read_asked is None:
                self._ask_read()
        round_ = self._read_next if self._read_next is not None else self._read_asked_future()
        try:
            index = await asyncio.wait_for(asyncio.shield(round_), self.timing.request_timeout)
        except asyncio.TimeoutError:
            raise ServerError(E.TIMEOUT) from None
        await self._applied(index)

    def _read_asked_future(self) -> asyncio.Future[int]:
        assert self._read_asked is not None
        return self._read_asked[1]

    def _ask_read(self) -> None:
        future, self._read_next = self._read_next, None
        assert future is not None
        context = next(self._read_contexts)
        self._read_asked = (context, future, asyncio.get_running_loop().time())
        with contextlib.suppress(ProposalDroppedError):  # no leader: asked again soon
            self.node.read_index(context)
        self._kick()

    def _retry_read(self) -> None:
        asked = self._read_asked
        if asked is None:
            return
        context, future, since = asked
        if future.done():
            self._read_asked = None
            return
        now = asyncio.get_running_loop().time()
        if now - since >= READ_RETRY:
            context = next(self._read_contexts)
            self._read_asked = (context, future, now)
            with contextlib.suppress(ProposalDroppedError):
                self.node.read_index(context)

    def _read_answered(self, context: bytes, index: int) -> None:
        asked = self._read_asked
        if asked is None or asked[0] != context:
            return  # an earlier try of a round answered already
        self._read_asked = None
        if not asked[1].done():
            asked[1].set_result(index)
        if self._read_next is not None:
            self._ask_read()

    async def _applied(self, index: int) -> None:
        if self.server.applied_index >= index:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._applied_waiters.append((index, waiter))
        await waiter

    def _wake_applied(self) -> None:
        if not self._applied_waiters:
            return
        applied = self.server.applied_index
        still = []
        for index, waiter in self._applied_waiters:
            if index <= applied:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((index, waiter))
        self._applied_waiters = still

    async def _leader(self, timeout: float) -> int:
        """The leader's id, waiting up to ``timeout`` for one."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.node.leader == NO_NODE:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise ServerError(E.NO_LEADER)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._leader_changed.wait(), remaining)
        return self.node.leader

    async def _ask_leader(self, kind: str, body: bytes) -> bytes:
        """A request answered by the leader, retried (a new leader, a lost message)
        until the request timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.request_timeout
        while True:
            leader = await self._leader(max(0.0, deadline - loop.time()))
            if leader == self.node.id:
                return await self.answer(kind, body)
            try:
                return await self.transport.request(leader, kind, body, PEER_REQUEST_TIMEOUT)
            except PeerRequestError as err:
                spec = _SPECS.get(str(err))
                if spec is not None:
                    raise ServerError(spec) from None
            except (PeerUnreachableError, asyncio.TimeoutError):
                pass
            if loop.time() >= deadline:
                raise ServerError(E.TIMEOUT)
            await asyncio.sleep(self.timing.tick)

    async def renew_lease(self, lease_id: int) -> int:
        answer = await self._ask_leader(LEASE_RENEW, str(lease_id).encode())
        return int(answer)

    async def lease_time_to_live(
        self, r: rpc_pb2.LeaseTimeToLiveRequest
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        answer = await self._ask_leader(LEASE_TTL, r.SerializeToString())
        resp = rpc_pb2.LeaseTimeToLiveResponse.FromString(answer)
        resp.header.CopyFrom(self.server.header())
        return resp

    async def move_leader(self, target_id: int) -> None:
        node = self.node
        if node.role is not Role.LEADER:
            raise ServerError(E.NOT_LEADER)
        if target_id not in node.voters:
            raise ServerError(E.BAD_LEADER_TRANSFEREE)
        if target_id == node.id:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timing.request_timeout
        node.transfer_leadership(target_id)
        self._kick()
        while node.leader != target_id:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ServerError(E.TIMEOUT_LEADER_TRANSFER)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._leader_changed.wait(), remaining)

    # ---- membership changes ----

    async def _conf_change(self, change: rules.Change) -> rpc_pb2.MemberListResponse:
        if self.stopped:
            raise ServerError(E.STOPPED)
        conf = ConfChange(change.conf.type, change.conf.node_id, change.context())
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[change.request_id] = waiter
        try:
            self.node.propose_conf_change(conf)
        except ProposalDroppedError:
            del self._waiting[change.request_id]
            raise ServerError(E.PROPOSAL_DROPPED) from None
        self._kick()
        resp = await self._answer(change.request_id, waiter)
        assert isinstance(resp, rpc_pb2.MemberListResponse)
        return resp

    def _request_id(self) -> int:
        return self.server.next_request_id()

    def _heard(self, peer: int) -> None:
        """Track how long ``peer`` has been talking to us without a gap (etcd's transport
        ActiveSince): a gap of an election timeout starts a new run."""
        now = asyncio.get_running_loop().time()
        run = self._runs.get(peer)
        if run is None or now - run[1] > self.timing.election_timeout:
            self._runs[peer] = (now, now)
        else:
            self._runs[peer] = (run[0], now)

    def _connectivity(self) -> tuple[set[int], set[int]]:
        """(members talking to this one now, those doing so for HEALTH_INTERVAL or
        more), this one included in both."""
        now = asyncio.get_running_loop().time()
        recent = now - self.timing.election_timeout
        active = {p for p, (_, last) in self._runs.items() if last >= recent}
        long = {p for p in active if self._runs[p][0] <= now - HEALTH_INTERVAL}
        return active | {self.node.id}, long | {self.node.id}

    async def _leader_connectivity(self) -> tuple[set[int], set[int]]:
        """The leader's view of who is connected (followers talk to the leader only, as
        etcd's members keep streams to every peer): asked of it from a follower."""
        if self.is_leader():
            return self._connectivity()
        try:
            answer = json.loads(await self._ask_leader(CONNECTIVITY, b""))
        except ServerError:
            return {self.node.id}, set()  # no leader: nobody to be connected to
        return set(answer["active"]), set(answer["long"])

    async def _check_healthy(self) -> None:
        """etcd's isConnectedFullySince: every voter connected for HEALTH_INTERVAL."""
        _, long = await self._leader_connectivity()
        voters = {m.id for m in self.server.members if not m.is_learner}
        if not voters <= long:
            raise ServerError(E.UNHEALTHY)

    async def member_add(self, peer_urls: list[str], is_learner: bool) -> rpc_pb2.MemberAddResponse:
        members = self.server.members
        if not is_learner:
            rules.check_add_voter(members)
        await self._check_healthy()
        member = MemberInfo(rules.new_member_id(peer_urls, self.cluster_token), "", peer_urls)
        kind = ConfChangeType.ADD_LEARNER if is_learner else ConfChangeType.ADD_NODE
        change = rules.Change(self._request_id(), ConfChange(kind, member.id), member)
        listed = await self._conf_change(change)
        added = next(m for m in listed.members if member.id == m.ID)
        return rpc_pb2.MemberAddResponse(
            header=self.server.header(0), member=added, members=listed.members
        )

    async def member_remove(self, member_id: int) -> rpc_pb2.MemberRemoveResponse:
        if member_id in self.removed:
            raise ServerError(E.MEMBER_NOT_FOUND)
        active, long = await self._leader_connectivity()
        rules.check_remove(self.server.members, member_id, active, long)
        target = next(m for m in self.server.members if m.id == member_id)
        conf = ConfChange(ConfChangeType.REMOVE_NODE, member_id)
        listed = await self._conf_change(rules.Change(self._request_id(), conf, target))
        return rpc_pb2.MemberRemoveResponse(header=self.server.header(0), members=listed.members)

    async def member_update(
        self, member_id: int, peer_urls: list[str]
    ) -> rpc_pb2.MemberUpdateResponse:
        target = next((m for m in self.server.members if m.id == member_id), None)
        if target is None:
            raise ServerError(E.MEMBER_NOT_FOUND)
        member = MemberInfo(member_id, target.name, peer_urls, list(target.client_urls))
        conf = ConfChange(ConfChangeType.UPDATE_NODE, member_id)
        listed = await self._conf_change(rules.Change(self._request_id(), conf, member))
        return rpc_pb2.MemberUpdateResponse(header=self.server.header(0), members=listed.members)

    async def member_promote(self, member_id: int) -> rpc_pb2.MemberPromoteResponse:
        """Promoted by the leader, which alone knows how far the learner is (forwarded
        there from a follower, as etcd does)."""
        if self.node.role is not Role.LEADER:
            answer = await self._ask_leader(PROMOTE, str(member_id).encode())
            resp = rpc_pb2.MemberPromoteResponse.FromString(answer)
            resp.header.CopyFrom(self.server.header(0))
            return resp
        target = rules.check_promote(self.server.members, member_id)
        progress = self.node.progress.get(member_id)
        leader_match = self.node.progress[self.node.id].match
        if progress is None or progress.match < leader_match * rules.LEARNER_READY_PERCENT:
            raise ServerError(E.LEARNER_NOT_READY)
        conf = ConfChange(ConfChangeType.ADD_NODE, member_id)
        listed = await self._conf_change(rules.Change(self._request_id(), conf, target))
        return rpc_pb2.MemberPromoteResponse(header=self.server.header(0), members=listed.members)

    # ---- the peer transport's handler ----

    def receive(self, message: Message) -> None:
        if self.stopped:
            return
        if message.sender in self.removed:
            return  # etcd drops what a removed member sends
        self._heard(message.sender)
        self.node.step(message)
        self._kick()

    async def answer(self, kind: str, body: bytes) -> bytes:
        try:
            if kind == MEMBERS:
                return self.membership_record()
            if kind == LEASE_RENEW:
                try:
                    return str(self.server.lessor.renew(int(body))).encode()
                except NotPrimaryError:
                    raise ServerError(E.NOT_LEADER) from None
            if kind == LEASE_TTL:
                if not self.is_leader():
                    raise ServerError(E.NOT_LEADER)
                request = rpc_pb2.LeaseTimeToLiveRequest.FromString(body)
                return self.server.local_time_to_live(request).SerializeToString()
            if kind == CONNECTIVITY:
                if not self.is_leader():
                    raise ServerError(E.NOT_LEADER)
                active, long = self._connectivity()
                return json.dumps({"active": sorted(active), "long": sorted(long)}).encode()
            if kind == PROMOTE:
                if not self.is_leader():
                    raise ServerError(E.NOT_LEADER)
                return (await self.member_promote(int(body))).SerializeToString()
        except ServerError as err:
            raise PeerRequestError(err.spec.message) from None
        raise PeerRequestError(f"unknown peer request {kind!r}")

    def membership_record(self) -> bytes:
        """What a joining member asks for: the cluster id and its members."""
        return json.dumps(
            {
                "cluster_id": self.server.cluster_id,
                "members": [rules.record(m) for m in self.server.members],
                "removed": sorted(self.removed),
            }
        ).encode()

    # ---- a member removed while it was away ----

    def _maybe_ask_if_removed(self) -> None:
        """A member whose removal was committed but never reached it (the leader stops
        writing to it once the change applies) hears from nobody again: while it has no
        leader, it asks its peers every election timeout whether it was removed, and
        stops if so (etcd's peers answer such a member "removed" and it exits)."""
        if self.node.leader != NO_NODE or self.stopped:
            self._leaderless_ticks = 0
            return
        self._leaderless_ticks += 1
        if self._leaderless_ticks % self.timing.election_ticks == 0 and not self._asking:
            self._asking = True
            self._spawn(self._ask_if_removed())

    async def _ask_if_removed(self) -> None:
        try:
            for peer in self._peer_urls():
                try:
                    record = await self.transport.request(peer, MEMBERS, b"", PEER_REQUEST_TIMEOUT)
                except (PeerUnreachableError, PeerRequestError, asyncio.TimeoutError):
                    continue
                if self.node.id in json.loads(record)["removed"]:
                    log.warning(
                        "member %x: the member has been permanently removed from the cluster",
                        self.node.id,
                    )
                    self.stopped = True
                    if self.on_removed is not None:
                        self.on_removed()
                return  # one answer is enough
        finally:
            self._asking = False

    # ---- publishing ----

    def _maybe_decide_version(self) -> None:
        """As etcd's leader: once every member published itself, record the cluster
        version (one entry, the last of a new cluster's start)."""
        server = self.server
        if self._deciding or server.cluster_version is not None or not self.is_leader():
            return
        if server.members and all(m.name for m in server.members):
            self._deciding = True
            self._spawn(self._decide_version())

    async def _decide_version(self) -> None:
        try:
            await settled(self.server.propose(ClusterVersionSet(CLUSTER_VERSION), internal=True))
        except ServerError:
            pass  # asked again while this member leads
        finally:
            self._deciding = False

    async def _publish(self) -> None:
        me = self.server.member
        while not self.stopped:
            attributes = MemberAttrSet(me.id, me.name, tuple(me.client_urls))
            try:
                await self._leader(self.timing.request_timeout)
                await settled(self.server.propose(attributes, internal=True))
                self.published = True
                return
            except ServerError:
                await asyncio.sleep(READ_RETRY)


# errors a leader answers a forwarded request with, by their text ("not leader" is not
# one: it means ask the leader there is now)
_SPECS = {spec.message: spec for spec in E.ALL if spec is not E.NOT_LEADER}


def load_snapshot(server: EtcdServer, data: bytes, index: int, *, serving: bool) -> set[int]:
    """Load a snapshot's data into ``server`` (``serving``: one that holds a state
    already, replaced; else a fresh one, restored); return the removed member ids. The
    local member keeps its own record (the server holds it) and the cluster its id (fixed
    at its birth, whatever members left since)."""
    beside, db = rules.unpack_snapshot(data)
    cluster_id, me = server.cluster_id, server.member
    loaded = read_db(db, "the snapshot")
    if serving:
        state.replace(server, loaded, members=False)
    else:
        state.restore(server, loaded, members=False)
    local = next((m for m in beside.members if m.id == me.id), None)
    if local is not None:
        me.name = me.name or local.name
        me.peer_urls, me.is_learner = local.peer_urls, local.is_learner
        me.client_urls = me.client_urls or local.client_urls
    server.members = [me if m.id == me.id else m for m in beside.members]
    server.cluster_id = cluster_id
    server.cluster_version = beside.cluster_version
    server.applied_index = index
    return beside.removed
