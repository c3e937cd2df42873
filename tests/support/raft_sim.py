"""A deterministic network of Raft nodes for tests: the test decides every tick, delivery,
loss, duplicate, partition, crash and restart, membership change and read, and the Raft
invariants are checked after every step.

Each member has a simulated disk that holds exactly what its driver persisted from a Ready
(and the snapshots it took); a crash throws the node (and its state machine) away, a
restart builds a new node from the disk, loads its snapshot into a fresh state machine and
replays the committed entries after it. With `compact_every=K`, each member compacts its
log every K applied entries, with a snapshot of its state machine (the applied entries,
encoded). Members apply committed conf changes as a driver must; a member added later
starts empty, as a joining node (`join=True`), and learns its membership from the log.
Every ReadState a node hands out is checked against the highest commit index any node had
when the read was asked (a linearizable read sees every write committed before it).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from etcd3py.server_ref.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    EntryKind,
    HardState,
    Message,
    ProposalDroppedError,
    RaftNode,
    Ready,
    Role,
    Snapshot,
    decode_conf_change,
)

FAST = Config(election_ticks=5, heartbeat_ticks=1, max_inflight=2, max_entries_per_append=3)


def encode_state(applied: list[Entry]) -> bytes:
    return json.dumps([[e.term, e.index, e.data.hex(), e.kind.value] for e in applied]).encode()


def decode_state(data: bytes) -> list[Entry]:
    return [
        Entry(term, index, bytes.fromhex(d), EntryKind(kind))
        for term, index, d, kind in json.loads(data or b"[]")
    ]


@dataclass
class Disk:
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot = field(default_factory=Snapshot)
    entries: list[Entry] = field(default_factory=list)  # those after the snapshot

    def persist(self, ready: Ready) -> None:
        if ready.snapshot is not None:
            self.snapshot = ready.snapshot
            self.entries = []
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state
        if ready.entries:
            del self.entries[ready.entries[0].index - self.snapshot.index - 1 :]
            self.entries.extend(ready.entries)

    def compact(self, snapshot: Snapshot) -> None:
        assert snapshot.index > self.snapshot.index
        self.snapshot = snapshot
        self.entries = [e for e in self.entries if e.index > snapshot.index]


@dataclass
class Member:
    id: int
    disk: Disk = field(default_factory=Disk)
    node: RaftNode | None = None
    applied: list[Entry] = field(default_factory=list)  # the state machine: entries in order
    lives: int = 0
    slow_disk: bool = False  # a Ready waits in `writing` until the test calls flush()
    writing: Ready | None = None
    # the membership its log starts from: the cluster's at the start, or, for a member
    # added later (built with join=True), the one it was told when it joined
    peers: frozenset[int] = frozenset()
    learners: frozenset[int] = frozenset()
    joined: bool = False


class InvariantError(AssertionError):
    pass


class Cluster:
    def __init__(
        self, size: int, seed: int = 0, config: Config = FAST, compact_every: int | None = None
    ) -> None:
        self.compact_every = compact_every
        self.ids = list(range(1, size + 1))
        self.seed = seed
        self.config = config
        self.members = {i: Member(i, peers=frozenset(self.ids)) for i in self.ids}
        self.in_flight: list[Message] = []
        self.group: dict[int, int] = {}  # partition: node -> side; absent: all connected
        self.leaders_by_term: dict[int, set[int]] = {}
        self.committed: dict[int, Entry] = {}
        self.commit_term: dict[int, int] = {}  # lowest term in which a node saw it committed
        self.applied: dict[int, Entry] = {}
        self.proposals = 0
        self._ticks = 0
        self.sent: list[Message] = []  # every message any node sent, for tests to count
        self.max_commit = 0  # the highest commit index any node has had
        self.read_floor: dict[bytes, int] = {}  # read context -> max_commit when asked
        self.read_states: dict[bytes, list[tuple[int, int]]] = {}  # context -> (node, index)
        self.reads = 0
        self.conf_changes_applied = 0
        for i in self.ids:
            self.restart(i)

    # ---- faults and inputs

    def node(self, node_id: int) -> RaftNode:
        node = self.members[node_id].node
        assert node is not None, f"node {node_id} is down"
        return node

    def live(self) -> list[RaftNode]:
        return [m.node for m in self.members.values() if m.node is not None]

    def add_member(self, node_id: int, told_by: RaftNode) -> RaftNode:
        """Start a new, empty member that will join, told the membership `told_by` has
        (etcd: the member list its `--initial-cluster` gives); it is no member itself."""
        assert node_id not in self.members
        member = Member(node_id, peers=told_by.voters, learners=told_by.learners, joined=True)
        self.members[node_id] = member
        self.restart(node_id)
        return self.node(node_id)

    def crash(self, node_id: int) -> None:
        member = self.members[node_id]
        member.node = None
        member.applied = []
        member.writing = None  # never reached the disk
        member.slow_disk = False

    def restart(self, node_id: int) -> None:
        member = self.members[node_id]
        if member.node is not None:
            return
        member.lives += 1
        rng = random.Random(f"{self.seed}/{node_id}/{member.lives}")
        member.node = RaftNode(
            node_id,
            member.peers,
            rng,
            self.config,
            hard_state=member.disk.hard_state,
            entries=member.disk.entries,
            snapshot=member.disk.snapshot,
            learners=member.learners,
            join=member.joined,
        )
        self._load(member, member.disk.snapshot)
        self.settle()

    def partition(self, *sides: set[int]) -> None:
        self.group = {node: n for n, side in enumerate(sides) for node in side}

    def heal(self) -> None:
        self.group = {}

    def slow_disk(self, node_id: int) -> None:
        """From now on, node_id's Readies are persisted only when the test flushes them."""
        self.members[node_id].slow_disk = True

    def flush(self, node_id: int) -> None:
        member = self.members[node_id]
        member.slow_disk = False
        if member.writing is not None and member.node is not None:
            self._handle(member, member.node, member.writing)
            member.writing = None
        self.settle()

    def connected(self, a: int, b: int) -> bool:
        return self.group.get(a, -1) == self.group.get(b, -1)

    def tick(self, node_id: int) -> None:
        if (node := self.members[node_id].node) is not None:
            node.tick()
            self.settle()

    def tick_all(self) -> None:
        for node in self.live():
            node.tick()
        self.settle()

    def propose(self, node_id: int, data: bytes | None = None) -> bool:
        if (node := self.members[node_id].node) is None:
            return False
        self.proposals += 1
        try:
            node.propose(data if data is not None else f"p{self.proposals}".encode())
        except ProposalDroppedError:
            return False
        finally:
            self.settle()
        return True

    def change(self, node_id: int, kind: ConfChangeType, target: int) -> bool:
        """Propose a membership change at node_id; adding a node not yet known starts it."""
        if (node := self.members[node_id].node) is None:
            return False
        adding = kind in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER)
        if adding and target not in self.members:
            self.add_member(target, told_by=self.leader() or node)
        try:
            node.propose_conf_change(ConfChange(kind, target))
        except ProposalDroppedError:
            return False
        finally:
            self.settle()
        return True

    def read(self, node_id: int) -> bytes | None:
        """Ask node_id for a linearizable read; its context, or None when it was refused."""
        if (node := self.members[node_id].node) is None:
            return None
        self.reads += 1
        context = f"read{self.reads}".encode()
        self.read_floor[context] = self.max_commit
        try:
            node.read_index(context)
        except ProposalDroppedError:
            return None
        finally:
            self.settle()
        return context

    def transfer(self, node_id: int, transferee: int) -> None:
        if (node := self.members[node_id].node) is not None:
            node.transfer_leadership(transferee)
            self.settle()

    def deliver(self, k: int) -> None:
        """Deliver the k-th message in flight (any order: the network reorders)."""
        if self.in_flight:
            message = self.in_flight.pop(k % len(self.in_flight))
            node = self.members[message.to].node
            if node is not None and self.connected(message.sender, message.to):
                node.step(message)
                self.settle()

    def drop(self, k: int) -> None:
        if self.in_flight:
            self.in_flight.pop(k % len(self.in_flight))

    def duplicate(self, k: int) -> None:
        if self.in_flight:
            self.in_flight.append(self.in_flight[k % len(self.in_flight)])

    def deliver_all(self, limit: int = 10_000) -> None:
        """Deliver in order until nothing is in flight (answers included)."""
        for _ in range(limit):
            if not self.in_flight:
                return
            self.deliver(0)

    # ---- the driver's loop

    def settle(self) -> None:
        """Every live node's Ready, handled as a driver must: persist, send, apply, advance."""
        busy = True
        while busy:
            busy = False
            for member in self.members.values():
                node = member.node
                if node is None:
                    continue
                if member.writing is not None:
                    continue  # one Ready at a time: the last one is still being written
                ready = node.ready()
                if not ready:
                    continue
                busy = True
                if member.slow_disk:
                    self._write_slowly(member, node, ready)
                else:
                    self._handle(member, node, ready)
        self.check()

    def _handle(self, member: Member, node: RaftNode, ready: Ready) -> None:
        member.disk.persist(ready)
        self._send(ready.messages)
        if ready.snapshot is not None:
            self._load(member, ready.snapshot)
        for entry in ready.committed_entries:
            assert entry.index == len(member.applied) + 1, "applied out of order"
            member.applied.append(entry)
            self._record_applied(entry)
            if entry.kind is EntryKind.CONF_CHANGE:
                node.apply_conf_change(decode_conf_change(entry.data))
                self.conf_changes_applied += 1
        for read in ready.read_states:
            if read.index < self.read_floor[read.context]:
                raise InvariantError(
                    f"node {member.id} read at {read.index}, but {self.read_floor[read.context]}"
                    " was committed before the read was asked"
                )
            self.read_states.setdefault(read.context, []).append((member.id, read.index))
        node.advance(ready)
        every = self.compact_every
        if every is not None and node.log.applied - node.log.offset >= every:
            member.disk.compact(node.compact(node.log.applied, encode_state(member.applied)))

    def _load(self, member: Member, snapshot: Snapshot) -> None:
        """A state machine from a snapshot: what it holds must be what others applied, and
        no less than it held (an applied entry is never taken back)."""
        loaded = decode_state(snapshot.data)
        if len(loaded) < len(member.applied):
            raise InvariantError(f"{snapshot} rolls back {len(member.applied)} applied entries")
        member.applied = loaded
        if len(member.applied) != snapshot.index:
            raise InvariantError(f"snapshot at {snapshot.index} holds {len(member.applied)}")
        if member.applied and member.applied[-1].term != snapshot.term:
            raise InvariantError(f"snapshot of term {snapshot.term} ends in {member.applied[-1]}")
        for entry in member.applied:
            self._record_applied(entry)

    def _write_slowly(self, member: Member, node: RaftNode, ready: Ready) -> None:
        """A leader sends while its disk writes (etcd does, Raft thesis §10.2.1) when the
        core says it may (`send_first`: its term and vote are durable); everyone else sends
        once it is written."""
        if ready.send_first:
            self._send(ready.messages)
            ready = replace(ready, messages=())
        member.writing = ready

    def _send(self, messages: tuple[Message, ...]) -> None:
        self.in_flight.extend(messages)
        self.sent.extend(messages)

    # ---- invariants

    def check(self) -> None:
        live = self.live()
        for node in live:
            self.max_commit = max(self.max_commit, node.log.committed)
            if node.role is Role.LEADER:
                if node.id not in node.voters:
                    raise InvariantError(f"leader {node.id} is no voter: {node.voters}")
                leaders = self.leaders_by_term.setdefault(node.term, set())
                leaders.add(node.id)
                if len(leaders) > 1:
                    raise InvariantError(f"two leaders in term {node.term}: {leaders}")
        logs = [(n.id, n.log.entries(n.log.first_index)) for n in live]
        logs += [(m.id, tuple(m.disk.entries)) for m in self.members.values() if m.node is None]
        for a in range(len(logs)):
            for b in range(a + 1, len(logs)):
                check_log_matching(*logs[a], *logs[b])
        for node in live:
            self._check_snapshot(node.id, node.log.snapshot)
            for index in range(node.log.first_index, node.log.committed + 1):
                entry = node.log.entries(index, 1)[0]
                known = self.committed.setdefault(index, entry)
                self.commit_term.setdefault(index, node.term)
                self.commit_term[index] = min(self.commit_term[index], node.term)
                if known != entry:
                    raise InvariantError(f"node {node.id} committed {entry}, others {known}")
        for node in live:
            if node.role is not Role.LEADER:
                continue
            for index, entry in self.committed.items():
                if index <= node.log.offset:
                    continue  # in its snapshot, which holds only committed entries
                if self.commit_term[index] < node.term and node.log.entries(index, 1) != (entry,):
                    raise InvariantError(
                        f"leader {node.id} of term {node.term} lacks committed {entry}"
                    )

    def _check_snapshot(self, node_id: int, snapshot: Snapshot) -> None:
        """A snapshot stands for applied (so committed) entries, the last of its term."""
        known = self.applied.get(snapshot.index)
        if snapshot.index and (known is None or known.term != snapshot.term):
            raise InvariantError(f"node {node_id} holds {snapshot} but applied is {known}")

    def _record_applied(self, entry: Entry) -> None:
        known = self.applied.setdefault(entry.index, entry)
        if known != entry:
            raise InvariantError(f"applied {entry} where another node applied {known}")

    # ---- liveness

    def leader(self) -> RaftNode | None:
        leaders = [n for n in self.live() if n.role is Role.LEADER]
        return max(leaders, key=lambda n: n.term) if leaders else None

    def run_until(self, done: Callable[[], bool], max_ticks: int) -> int:
        """Tick everyone and deliver everything, round after round, until done(); the
        number of ticks it took (AssertionError past max_ticks)."""
        for ticks in range(max_ticks + 1):
            self.deliver_all()
            if done():
                return ticks
            self.tick_all()
        raise AssertionError(f"not done within {max_ticks} ticks")

    def commit_eventually(self, data: bytes, max_ticks: int) -> int:
        """Propose data as a client would, at the leader of the highest term, again every
        election timeout (a leader cut off from its quorum loses it), until every live node
        applied it; the ticks that took (AssertionError past max_ticks)."""
        retry = self.config.election_ticks

        def applied_or_retried() -> bool:
            if self.applied_everywhere(data):
                return True
            leader = self.leader()
            if leader is not None and not leader.transferee and self._ticks % retry == 0:
                self.propose(leader.id, data)
            self._ticks += 1
            return False

        self._ticks = 0
        return self.run_until(applied_or_retried, max_ticks)

    def applied_everywhere(self, data: bytes) -> bool:
        """Applied by every live member of the cluster (as the newest leader sees it: a
        removed node is sent nothing more)."""
        leader = self.leader()
        members = (leader.voters | leader.learners) if leader else set(self.members)
        return all(
            any(e.data == data for e in m.applied)
            for m in self.members.values()
            if m.node and m.id in members
        )

    def read_eventually(self, max_ticks: int) -> int:
        """Ask the newest leader for a read, again every election timeout, until one is
        answered; the ticks that took (AssertionError past max_ticks)."""
        retry = self.config.election_ticks
        asked: list[bytes] = []

        def answered_or_retried() -> bool:
            if any(c in self.read_states for c in asked):
                return True
            leader = self.leader()
            if leader is not None and self._ticks % retry == 0:
                context = self.read(leader.id)
                if context is not None:
                    asked.append(context)
            self._ticks += 1
            return False

        self._ticks = 0
        return self.run_until(answered_or_retried, max_ticks)


def check_log_matching(a: int, log_a: tuple[Entry, ...], b: int, log_b: tuple[Entry, ...]) -> None:
    """If two logs hold an entry of the same index and term, they agree up to it, on the
    indexes both still hold (either may have compacted its first ones away)."""
    if not log_a or not log_b:
        return
    first = max(log_a[0].index, log_b[0].index)
    last = min(log_a[-1].index, log_b[-1].index)
    if first > last:
        return  # no index in common
    common_a = log_a[first - log_a[0].index : last - log_a[0].index + 1]
    common_b = log_b[first - log_b[0].index : last - log_b[0].index + 1]
    for i in range(len(common_a) - 1, -1, -1):
        if common_a[i].term == common_b[i].term:
            if common_a[: i + 1] != common_b[: i + 1]:
                raise InvariantError(f"logs of {a} and {b} match at {first + i} but not before")
            return
