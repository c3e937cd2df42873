"""A Raft node as a pure state machine: no clock, no I/O, no threads.

The driver calls `tick()` on its timer, `step()` with each message that arrives, `propose()`
with data to replicate, `propose_conf_change()` and `apply_conf_change()` for membership,
`read_index()` for a linearizable read, and `transfer_leadership()`. Between calls it takes a
`Ready`: persists its hard state and entries, then sends its messages and applies its
committed entries, then calls `advance(ready)`. The same calls in the same order give the
same result: the only randomness (the election timeout) comes from the `random.Random` the
driver passes.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from .log import RaftLog
from .messages import (
    FROM_LEADER,
    NO_NODE,
    VOTE_REQUESTS,
    ConfChange,
    ConfChangeType,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    encode_conf_change,
)
from .progress import Progress, ProgressState

RESPONSE_TO = {
    MessageType.PRE_VOTE: MessageType.PRE_VOTE_RESPONSE,
    MessageType.VOTE: MessageType.VOTE_RESPONSE,
}


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class ProposalDroppedError(Exception):
    """No leader is known, or the leader is handing leadership over: propose again later."""


@dataclass(frozen=True)
class Config:
    election_ticks: int = 10  # a follower campaigns after [election, 2*election) quiet ticks
    heartbeat_ticks: int = 1
    # unacknowledged appends per follower in REPLICATE; small for tests, etcd's
    # MaxInflightMsgs is 512 (a server passes that)
    max_inflight: int = 4
    max_entries_per_append: int = 16
    # bytes of entry data per APPEND (etcd's MaxSizePerMsg); an append carries at least one
    max_size_per_msg: int = 1024 * 1024
    pre_vote: bool = True
    check_quorum: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_ticks < self.election_ticks:
            raise ValueError("need 0 < heartbeat_ticks < election_ticks")
        if min(self.max_inflight, self.max_entries_per_append, self.max_size_per_msg) < 1:
            raise ValueError(
                "max_inflight, max_entries_per_append and max_size_per_msg must be positive"
            )


@dataclass(frozen=True)
class Ready:
    """What the driver must do, in this order: persist `snapshot` (when not None: it
    replaces the whole persisted log), `hard_state` (when not None) and `entries` (replacing
    any persisted entries from the first one's index on), then send `messages`, load
    `snapshot` into the state machine and apply `committed_entries`, then call `advance`
    with this Ready. `read_states` are reads confirmed since the last Ready: each may be
    served once the state machine applied its index.

    When `send_first` is set, the driver may send `messages` before (or while) it
    persists: they are a leader's, all of its current term, whose term and vote are
    durable already (etcd's leader does so, Raft thesis 10.2.1). Its appends may carry
    entries it has not persisted yet; that is safe because its own copy counts toward a
    commit only once `advance` says it is durable. Otherwise (a follower's answers, a
    candidate's votes) a message may promise what is durable only once persisted."""

    hard_state: HardState | None
    entries: tuple[Entry, ...]
    messages: tuple[Message, ...]
    committed_entries: tuple[Entry, ...]
    snapshot: Snapshot | None = None
    read_states: tuple[ReadState, ...] = ()
    send_first: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.hard_state is not None
            or self.entries
            or self.messages
            or self.committed_entries
            or self.snapshot is not None
            or self.read_states
        )


@dataclass
class _Election:
    granted: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)


@dataclass
class _PendingRead:
    """A leader's read waiting for a quorum to confirm it still leads: the commit index
    when it was asked, who asked it under which context, and which members answered a
    heartbeat carrying it."""

    index: int
    requester: int
    context: bytes
    acks: set[int]


def _read_key(requester: int, context: bytes) -> bytes:
    """What a leader's heartbeats name a pending read by: its context among the reads of
    the member that asked it. Each driver names its own reads; two members may pick the
    same context, and taking one for a duplicate of the other would leave it unanswered."""
    return requester.to_bytes(8, "big") + context


class RaftNode:
    """One member's Raft: its role, term, vote and log, and, as leader, its followers'
    progress. Changes only inside the driver's calls; see the module docstring."""

    def __init__(
        self,
        node_id: int,
        peers: Iterable[int],
        rng: random.Random,
        config: Config | None = None,
        hard_state: HardState | None = None,
        entries: Iterable[Entry] = (),
        applied: int = 0,
        snapshot: Snapshot | None = None,
        learners: Iterable[int] = (),
        join: bool = False,
    ) -> None:
        """A node starting (or restarting) from what its driver persisted: its latest
        snapshot and the entries after it; `applied` is the last index the driver's state
        machine already holds (at least the snapshot's).

        The membership is the snapshot's when it has one; otherwise `peers` are the voters
        (this node among them, unless it is one of `learners` or `join` is set) and
        `learners` the learners: the membership the log starts from, which the driver
        keeps for restarts. A restarted node replays its committed entries after the
        snapshot, and with them the conf changes: the driver applies them again.

        A new member joining a running cluster passes `join=True` and, as `peers` and
        `learners`, the members it was told of when it was added (etcd: the member list);
        it is no member itself (never campaigns) until it applies the conf change adding
        it, from the leader's appends, or takes a snapshot that names it. The initial
        membership is not in the log (etcd's is: bootstrap conf changes), so a joiner with
        no peers would take the entry adding it for a cluster of one and elect itself."""
        self.id = node_id
        self.voters: frozenset[int] = frozenset()
        self.learners: frozenset[int] = frozenset()
        if snapshot is not None and snapshot.voters:
            self.voters, self.learners = snapshot.voters, snapshot.learners
        else:
            self.learners = frozenset(learners)
            self.voters = frozenset(peers) - self.learners
            if join:
                self.voters, self.learners = self.voters - {node_id}, self.learners - {node_id}
            elif node_id not in self.learners:
                self.voters |= {node_id}
        self.config = config or Config()
        self._rng = rng
        state = hard_state or HardState()
        self.log = RaftLog(entries, commit=state.commit, applied=applied, snapshot=snapshot)
        self.term = state.term
        self.vote = state.vote
        self._persisted = state
        self.role = Role.FOLLOWER
        self.leader = NO_NODE
        self.transferee = NO_NODE
        self.pending_conf_index = 0  # a leader's last conf change, until it is applied
        # proposals of a conf change that arrived while the pending one was committed but
        # not yet applied: stepped again at advance (see _step_leader)
        self._held_conf_proposals: list[Message] = []
        self.progress: dict[int, Progress] = {}
        self._election = _Election()
        self._messages: list[Message] = []
        self._read_states: list[ReadState] = []
        self._reads: dict[bytes, _PendingRead] = {}  # by _read_key, in the order asked
        self._held_reads: list[Message] = []  # asked before an entry of our term committed
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self.config.election_ticks
        self._become_follower(self.term, NO_NODE)

    # ---- the driver's calls

    @property
    def hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    @property
    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def tick(self) -> None:
        if self.role is Role.LEADER:
            self._tick_leader()
            return
        self._election_elapsed += 1
        if self._election_elapsed >= self._timeout and self._promotable():
            self._campaign(pre_vote=self.config.pre_vote)

    def propose(self, data: bytes) -> None:
        self._propose(Entry(term=0, index=0, data=data))

    def propose_conf_change(self, change: ConfChange) -> None:
        """Propose a membership change; it takes effect where the driver applies its entry
        (`apply_conf_change`). A leader takes one at a time: while its last one is not
        applied, a new one becomes an empty entry (etcd's pendingConfIndex rule)."""
        data = encode_conf_change(change)
        self._propose(Entry(term=0, index=0, data=data, kind=EntryKind.CONF_CHANGE))

    def _propose(self, entry: Entry) -> None:
        self.step(Message(MessageType.PROPOSE, to=self.id, sender=self.id, entries=(entry,)))

    def apply_conf_change(self, change: ConfChange) -> None:
        """The driver applies a committed CONF_CHANGE entry: change the membership. A voter
        is never demoted to learner, and the last voter never removed (both ignored)."""
        node = change.node_id
        voters, learners = self.voters, self.learners
        if change.type is ConfChangeType.ADD_NODE:
            voters, learners = voters | {node}, learners - {node}
        elif change.type is ConfChangeType.ADD_LEARNER and node not in voters:
            learners = learners | {node}
        elif change.type is ConfChangeType.REMOVE_NODE and voters != {node}:
            voters, learners = voters - {node}, learners - {node}
        self._switch_membership(voters, learners)

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read named by `context` (unique among this node's
        pending reads; other nodes may use the same): a `ReadState(index, context)` in a
        later Ready says the read may be served once the state machine applied `index`.
        It may never come (the leader changed): time out."""
        self.step(Message(MessageType.READ_INDEX, to=self.id, sender=self.id, context=context))

    def transfer_leadership(self, transferee: int) -> None:
        """Ask the leader (this node or, forwarded, the one it follows) to hand over."""
        self.step(Message(MessageType.TRANSFER_LEADER, to=self.id, sender=transferee))

    def ready(self) -> Ready:
        """Take what the driver must do now; call `advance` with it before the next one."""
        hard_state = self.hard_state
        messages, self._messages = tuple(self._messages), []
        read_states, self._read_states = tuple(self._read_states), []
        return Ready(
            hard_state=None if hard_state == self._persisted else hard_state,
            entries=self.log.unstable(),
            messages=messages,
            committed_entries=self.log.to_apply(),
            snapshot=self.log.pending_snapshot,
            read_states=read_states,
            send_first=(
                self.role is Role.LEADER
                and self.term == self._persisted.term
                and self.vote == self._persisted.vote
            ),
        )

    def advance(self, ready: Ready) -> None:
        """The driver persisted, sent and applied what `ready` asked for."""
        if ready.hard_state is not None:
            self._persisted = ready.hard_state
        if ready.snapshot is not None and ready.snapshot == self.log.pending_snapshot:
            self.log.pending_snapshot = None
        if ready.entries:
            last = ready.entries[-1]
            self.log.stable_to(last.index, last.term)
        if ready.committed_entries:
            self.log.applied = max(self.log.applied, ready.committed_entries[-1].index)
            self._take_held_conf_proposals()
        if self.role is Role.LEADER:
            # only now, durable, does the leader's own copy count toward the quorum
            mine = self.progress[self.id]
            if mine.acknowledged(self.log.stable) and self._maybe_commit():
                self._broadcast_append()

    def compact(self, index: int, data: bytes) -> Snapshot:
        """The driver's state machine, as of applied `index`, is `data`: drop the entries up
        to index from the log. The driver persists the snapshot returned (replacing its
        older one and the entries up to index); the leader sends it to followers that need
        entries it dropped. The snapshot carries the membership, which is the one as of
        applied: so no conf change may lie between index and applied."""
        term = self.log.term(index)
        if term is None or index > self.log.applied:
            raise ValueError(f"can compact only up to applied {self.log.applied}, not {index}")
        after = self.log.entries(index + 1, self.log.applied - index)
        if any(e.kind is EntryKind.CONF_CHANGE for e in after):
            raise ValueError(f"a conf change applied after {index}: compact up to it or later")
        snapshot = Snapshot(
            index=index, term=term, voters=self.voters, learners=self.learners, data=data
        )
        self.log.compact(snapshot)
        return snapshot

    def step(self, message: Message) -> None:
        if message.term > self.term:
            if not self._accept_higher_term(message):
                return
        elif message.term and message.term < self.term:
            self._answer_stale(message)
            return
        if message.type in VOTE_REQUESTS:
            self._answer_vote(message)
        elif message.type is MessageType.READ_INDEX_RESPONSE:
            if self.role is not Role.LEADER:
                self._read_states.append(ReadState(message.index, message.context))
        elif self.role is Role.LEADER:
            self._step_leader(message)
        elif self.role is Role.FOLLOWER:
            self._step_follower(message)
        else:
            self._step_candidate(message)

    # ---- terms

    def _accept_higher_term(self, m: Message) -> bool:
        """Move to m's newer term as it requires; False when m is to be ignored."""
        if m.type in VOTE_REQUESTS:
            in_lease = (
                self.config.check_quorum
                and self.leader != NO_NODE
                and self._election_elapsed < self.config.election_ticks
            )
            if in_lease and not m.transfer:
                return False  # our leader is alive: don't let a rejoining node disrupt it
        if m.type is MessageType.PRE_VOTE:
            return True  # a pre-vote changes no term
        if m.type is MessageType.PRE_VOTE_RESPONSE and not m.reject:
            return True  # the term we asked about; ours moves if the real vote follows
        self._become_follower(m.term, m.sender if m.type in FROM_LEADER else NO_NODE)
        return True

    def _answer_stale(self, m: Message) -> None:
        if m.type in FROM_LEADER and (self.config.check_quorum or self.config.pre_vote):
            # an old leader cut off from us: tell it our term, or (with pre-vote) it
            # might never learn it, since our pre-votes are refused while it pings others
            self._send(Message(MessageType.APPEND_RESPONSE, to=m.sender, sender=self.id))
        elif m.type is MessageType.PRE_VOTE:
            self._send(
                Message(MessageType.PRE_VOTE_RESPONSE, to=m.sender, sender=self.id, reject=True)
            )

    def _answer_vote(self, m: Message) -> None:
        can_vote = (
            self.vote == m.sender
            or (self.vote == NO_NODE and self.leader == NO_NODE)
            or (m.type is MessageType.PRE_VOTE and m.term > self.term)
        )
        grant = can_vote and self.log.is_up_to_date(m.log_term, m.index)
        response = RESPONSE_TO[m.type]
        if grant:
            # answered at the asked term so that a pre-candidate counts it
            self._messages.append(Message(response, to=m.sender, sender=self.id, term=m.term))
            if m.type is MessageType.VOTE:
                self._election_elapsed = 0
                self.vote = m.sender
        else:
            self._send(Message(response, to=m.sender, sender=self.id, reject=True))

    # ---- role changes

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NO_NODE
        self.leader = NO_NODE
        self.transferee = NO_NODE
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self.config.election_ticks + self._rng.randrange(self.config.election_ticks)
        self._election = _Election()
        self.progress = {}
        self.pending_conf_index = 0
        self._held_conf_proposals = []  # lost with the leadership: their callers time out
        self._reads = {}  # a leader that steps down drops its reads: the driver times out
        self._held_reads = []

    def _become_follower(self, term: int, leader: int) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader = leader

    def _become_leader(self) -> None:
        assert self.role is Role.CANDIDATE or len(self.voters) == 1
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader = self.id
        nxt = self.log.last_index + 1
        self.progress = {
            peer: Progress(next=nxt, max_inflight=self.config.max_inflight)
            for peer in self.voters | self.learners
        }
        mine = self.progress[self.id]
        mine.become_replicate()
        mine.acknowledged(self.log.stable)
        mine.recent_active = True
        # any entry we hold may be an unapplied conf change: none more until all applied
        self.pending_conf_index = self.log.last_index
        # a no-op of our term: committing it commits every entry of earlier terms
        self._append_as_leader([Entry(term=0, index=0)])

    def _promotable(self) -> bool:
        """May this node campaign? Only as a voter in its own membership, with no snapshot
        still to persist and no committed conf change still to apply (etcd's rules)."""
        if self.id not in self.voters or self.log.pending_snapshot is not None:
            return False
        return not any(e.kind is EntryKind.CONF_CHANGE for e in self.log.to_apply())

    def _switch_membership(self, voters: frozenset[int], learners: frozenset[int]) -> None:
        self.voters, self.learners = voters, learners
        if self.role is Role.FOLLOWER:
            return
        if self.id not in voters:
            # removed (a leader too: etcd's stops; ours follows and never campaigns)
            self._become_follower(self.term, NO_NODE)
            return
        if self.role is not Role.LEADER:
            return
        members = voters | learners
        for peer in set(self.progress) - members:
            del self.progress[peer]
        if self.transferee not in voters:
            self.transferee = NO_NODE  # a transfer to a removed node is abandoned
        for peer in sorted(members - set(self.progress)):
            # etcd takes a new member as recently active, so that it may get a snapshot
            pr = Progress(
                next=self.log.last_index + 1,
                max_inflight=self.config.max_inflight,
                recent_active=True,
            )
            self.progress[peer] = pr
            self._send_append(peer)  # a probe: the answer says where its log ends
        if self._maybe_commit():  # fewer voters may make a quorum of what is held
            self._broadcast_append()

    def _campaign(self, pre_vote: bool, transfer: bool = False) -> None:
        if pre_vote:
            self._reset(self.term)
            self.role = Role.PRE_CANDIDATE
            kind, term = MessageType.PRE_VOTE, self.term + 1
        else:
            self._reset(self.term + 1)
            self.role = Role.CANDIDATE
            self.vote = self.id
            kind, term = MessageType.VOTE, self.term
        self._poll(self.id, granted=True)
        if self.role not in (Role.PRE_CANDIDATE, Role.CANDIDATE):
            return  # a single node wins at once
        for peer in sorted(self.voters - {self.id}):  # learners are not asked
            self._messages.append(
                Message(
                    kind,
                    to=peer,
                    sender=self.id,
                    term=term,
                    index=self.log.last_index,
                    log_term=self.log.last_term,
                    transfer=transfer,
                )
            )

    def _poll(self, voter: int, granted: bool) -> None:
        (self._election.granted if granted else self._election.rejected).add(voter)
        # a learner may answer (it may not have applied its promotion yet), uncounted
        if len(self._election.granted & self.voters) >= self.quorum:
            if self.role is Role.PRE_CANDIDATE:
                self._campaign(pre_vote=False)
            else:
                self._become_leader()
                self._broadcast_append()
        elif len(self._election.rejected & self.voters) >= self.quorum:
            self._become_follower(self.term, NO_NODE)

    # ---- followers and candidates

    def _step_follower(self, m: Message) -> None:
        if m.type in (MessageType.PROPOSE, MessageType.READ_INDEX, MessageType.TRANSFER_LEADER):
            if self.leader == NO_NODE:
                if m.type is not MessageType.TRANSFER_LEADER:
                    self._drop(m, "no leader")
            elif m.type is MessageType.TRANSFER_LEADER:
                self._send(replace(m, to=self.leader))
            else:  # forwarded as a local message: no term (etcd's)
                self._messages.append(replace(m, to=self.leader))
        elif m.type in FROM_LEADER:
            self._election_elapsed = 0
            self.leader = m.sender
            self._handle_from_leader(m)
        elif m.type is MessageType.TIMEOUT_NOW and self._promotable():
            self._campaign(pre_vote=False, transfer=True)

    def _step_candidate(self, m: Message) -> None:
        expected = (
            MessageType.PRE_VOTE_RESPONSE
            if self.role is Role.PRE_CANDIDATE
            else MessageType.VOTE_RESPONSE
        )
        if m.type in (MessageType.PROPOSE, MessageType.READ_INDEX):
            self._drop(m, "no leader")
        elif m.type in FROM_LEADER:
            self._become_follower(m.term, m.sender)
            self._handle_from_leader(m)
        elif m.type is expected:
            self._poll(m.sender, granted=not m.reject)

    def _handle_from_leader(self, m: Message) -> None:
        if m.type is MessageType.HEARTBEAT:
            # the leader sends at most what it knows we hold, so this commit is ours
            self.log.commit_to(min(m.commit, self.log.last_index))
            answer = Message(
                MessageType.HEARTBEAT_RESPONSE, to=m.sender, sender=self.id, context=m.context
            )
            self._send(answer)
            return
        if m.type is MessageType.SNAPSHOT:
            self._handle_snapshot(m)
            return
        if m.index < self.log.committed:
            self._send(
                Message(
                    MessageType.APPEND_RESPONSE,
                    to=m.sender,
                    sender=self.id,
                    index=self.log.committed,
                )
            )
            return
        last_new = self.log.try_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(
                Message(
                    MessageType.APPEND_RESPONSE,
                    to=m.sender,
                    sender=self.id,
                    index=last_new,
                )
            )
            return
        hint = self.log.conflict_hint(m.index, m.log_term)
        self._send(
            Message(
                MessageType.APPEND_RESPONSE,
                to=m.sender,
                sender=self.id,
                index=m.index,
                reject=True,
                reject_hint=hint,
                log_term=self.log.term(hint) or 0,
            )
        )

    def _handle_snapshot(self, m: Message) -> None:
        snapshot = m.snapshot
        assert snapshot is not None
        # taken even when its membership lacks us (etcd ignores it): a new member may be
        # sent a snapshot older than its addition, which follows in the appends after it
        if self.log.restore(snapshot):
            if snapshot.voters:
                self._switch_membership(snapshot.voters, snapshot.learners)
            index = self.log.last_index
        else:
            index = self.log.committed  # stale: tell the leader how far we are
        self._send(Message(MessageType.APPEND_RESPONSE, to=m.sender, sender=self.id, index=index))

    # ---- leaders

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum:
                active = [p for p in self.voters if self.progress[p].recent_active]
                if len(active) < self.quorum:
                    self._become_follower(self.term, NO_NODE)
                    return
                for peer, pr in self.progress.items():
                    pr.recent_active = peer == self.id
            for pr in self.progress.values():
                if pr.state is ProgressState.SNAPSHOT:
                    pr.become_probe()  # unanswered for an election timeout: taken as lost
            self.transferee = NO_NODE  # a transfer that took a whole timeout has failed
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            # carries the last read asked: its answers confirm every read before it too,
            # whose own heartbeats may have been lost (etcd's lastPendingRequestCtx)
            self._broadcast_heartbeat(next(reversed(self._reads), b""))

    def _broadcast_heartbeat(self, context: bytes) -> None:
        for peer in self._followers():
            commit = min(self.progress[peer].match, self.log.committed)
            heartbeat = Message(
                MessageType.HEARTBEAT, to=peer, sender=self.id, commit=commit, context=context
            )
            self._send(heartbeat)

    def _step_leader(self, m: Message) -> None:
        if m.type is MessageType.PROPOSE:
            if self.transferee != NO_NODE:
                self._drop(m, "leadership is being transferred")
                return
            if self._conf_change_about_to_apply(m):
                self._held_conf_proposals.append(m)
                return
            self._append_as_leader(m.entries)
            self._broadcast_append()
            return
        if m.type is MessageType.TRANSFER_LEADER:
            self._start_transfer(m.sender)
            return
        if m.type is MessageType.READ_INDEX:
            self._ask_read(m)
            return
        pr = self.progress.get(m.sender)
        if pr is None:
            return
        if m.type is MessageType.APPEND_RESPONSE:
            pr.recent_active = True
            self._on_append_response(m, pr)
        elif m.type is MessageType.HEARTBEAT_RESPONSE:
            pr.recent_active = True
            pr.probe_sent = False
            if m.context:
                self._confirm_reads(m.sender, m.context)
            if pr.state is ProgressState.REPLICATE and pr.is_paused():
                # the window may be full of appends that were lost: free one, so that an
                # append goes out and, if the follower lacks its predecessor, is refused
                pr.inflight.popleft()
            if pr.match < self.log.last_index:
                self._send_append(m.sender)

    def _on_append_response(self, m: Message, pr: Progress) -> None:
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                # skip every entry of ours whose term is above the follower's at the hint
                hint = self.log.conflict_hint(hint, m.log_term)
            if pr.rejected(m.index, hint):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(m.sender)
            return
        was_paused = pr.is_paused()
        updated = pr.acknowledged(m.index)
        if pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_replicate()  # the snapshot (or what it stood for) arrived
            updated = True
        if updated:
            if pr.state is ProgressState.PROBE:
                pr.become_replicate()
            if self._maybe_commit():
                self._broadcast_append()
            elif was_paused:
                self._send_append(m.sender)
            while self._send_append(m.sender, if_empty=False):
                pass
            if m.sender == self.transferee and pr.match == self.log.last_index:
                self._send(Message(MessageType.TIMEOUT_NOW, to=m.sender, sender=self.id))

    def _start_transfer(self, transferee: int) -> None:
        if transferee == self.id or transferee not in self.voters:
            return  # nobody to hand over to (a learner may not lead)
        if transferee == self.transferee:
            return  # already under way
        self.transferee = transferee
        self._election_elapsed = 0  # the transfer must finish within one election timeout
        if self.progress[transferee].match == self.log.last_index:
            self._send(Message(MessageType.TIMEOUT_NOW, to=transferee, sender=self.id))
        else:
            self._send_append(transferee)

    def _conf_change_about_to_apply(self, m: Message) -> bool:
        """Does `m` carry a conf change while the pending one is committed, only not yet
        applied? etcd-io/raft turns such a proposal into an empty entry (its caller times
        out), as we do while the pending one is uncommitted. But once it is committed the
        members apply it and answer its caller, and that caller's next change can reach
        us before our own apply: etcd applies beside its Raft loop, so that window is
        microseconds there; here it spans the leader's write to disk. Holding the
        proposal until advance closes it; no other behaviour changes."""
        return self.log.applied < self.pending_conf_index <= self.log.committed and any(
            e.kind is EntryKind.CONF_CHANGE for e in m.entries
        )

    def _take_held_conf_proposals(self) -> None:
        if not self._held_conf_proposals or self.pending_conf_index > self.log.applied:
            return
        held, self._held_conf_proposals = self._held_conf_proposals, []
        if self.transferee != NO_NODE:
            return  # refused as a forwarded proposal is: lost, its caller times out
        for m in held:
            self._append_as_leader(m.entries)
        self._broadcast_append()

    def _append_as_leader(self, proposed: Sequence[Entry]) -> None:
        first = self.log.last_index + 1
        entries = []
        for index, entry in enumerate(proposed, start=first):
            if entry.kind is EntryKind.CONF_CHANGE:
                if self.pending_conf_index > self.log.applied:
                    entry = Entry(term=0, index=0)  # one unapplied conf change at a time
                else:
                    self.pending_conf_index = index
            entries.append(replace(entry, term=self.term, index=index))
        self.log.append(entries)

    def _maybe_commit(self) -> bool:
        """Commit the highest index a quorum of voters holds, if it is of our term (Raft
        §5.4.2: an older term's entry is committed only by committing one of ours after
        it). Reads held until then go ahead."""
        matches = sorted((self.progress[v].match for v in self.voters), reverse=True)
        index = matches[self.quorum - 1]
        if self.log.term(index) != self.term or not self.log.commit_to(index):
            return False
        held, self._held_reads = self._held_reads, []
        for m in held:
            self._ask_read(m)
        return True

    # ---- reads (etcd-io/raft's ReadIndex, ReadOnlySafe)

    def _ask_read(self, m: Message) -> None:
        """A leader's side of READ_INDEX: note the commit index, then confirm by a
        heartbeat round that we still lead; alone, we know it at once."""
        if self.voters == {self.id}:
            self._answer_read(m.sender, m.context, self.log.committed)
        elif self.log.term(self.log.committed) != self.term:
            # our commit index may be behind our predecessor's until we commit an entry
            self._held_reads.append(m)
        elif (key := _read_key(m.sender, m.context)) not in self._reads:
            # (a duplicate rides on the first)
            self._reads[key] = _PendingRead(self.log.committed, m.sender, m.context, {self.id})
            self._broadcast_heartbeat(key)

    def _confirm_reads(self, sender: int, key: bytes) -> None:
        read = self._reads.get(key)
        if read is None:
            return
        read.acks.add(sender)
        if len(read.acks & self.voters) < self.quorum:
            return
        for asked in list(self._reads):  # and every read asked before it
            done = self._reads.pop(asked)
            self._answer_read(done.requester, done.context, done.index)
            if asked == key:
                return

    def _answer_read(self, requester: int, context: bytes, index: int) -> None:
        if requester == self.id:
            self._read_states.append(ReadState(index, context))
        else:
            self._send(
                Message(
                    MessageType.READ_INDEX_RESPONSE,
                    to=requester,
                    sender=self.id,
                    index=index,
                    context=context,
                )
            )

    def _broadcast_append(self) -> None:
        for peer in self._followers():
            self._send_append(peer)

    def _send_append(self, peer: int, if_empty: bool = True) -> bool:
        pr = self.progress[peer]
        if pr.is_paused():
            return False
        if pr.next <= self.log.offset:
            # a snapshot is costly: not to a follower we have not heard from lately (etcd)
            return pr.recent_active and self._send_snapshot(peer, pr)
        entries = self.log.entries(
            pr.next, self.config.max_entries_per_append, self.config.max_size_per_msg
        )
        if not entries and not if_empty:
            return False
        prev = pr.next - 1
        self._send(
            Message(
                MessageType.APPEND,
                to=peer,
                sender=self.id,
                index=prev,
                log_term=self.log.term(prev) or 0,
                entries=entries,
                commit=self.log.committed,
            )
        )
        if entries:
            pr.sent(entries[-1].index)
        return True

    def _send_snapshot(self, peer: int, pr: Progress) -> bool:
        """The follower needs entries we compacted away: send our snapshot instead."""
        snapshot = self.log.snapshot
        self._send(Message(MessageType.SNAPSHOT, to=peer, sender=self.id, snapshot=snapshot))
        pr.become_snapshot(snapshot.index)
        return True

    def _followers(self) -> list[int]:
        """Everyone we replicate to: voters and learners."""
        return sorted((self.voters | self.learners) - {self.id})

    def _drop(self, m: Message, why: str) -> None:
        """A proposal we cannot take: the local caller hears why; a forwarded one is lost,
        as any message may be."""
        if m.sender == self.id:
            raise ProposalDroppedError(why)

    def _send(self, message: Message) -> None:
        """Queue a message stamped with our term (votes answered above carry their own)."""
        self._messages.append(replace(message, term=self.term))
