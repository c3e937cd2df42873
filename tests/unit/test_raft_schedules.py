"""The Raft core under schedules Hypothesis chooses: ticks, deliveries in any order, lost
and duplicated messages, partitions and heals, crashes and restarts, proposals, transfers,
membership changes (add a learner or a node, promote, remove: proposed at any node, so that
a second one while the first is unapplied is turned into an empty entry) and reads; two
clusters in three compact their logs every few applied entries, so that followers left
behind, and new members, are caught up by snapshot. The simulator checks election safety
(and that a leader is a voter), log matching, leader completeness, state-machine safety and
linearizable reads after every step; once everything heals, a leader must be elected, a
proposal committed and a read answered within a bounded number of ticks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from etcd3py.server_ref.raft import ConfChangeType, MessageType, Role
from tests.support.raft_sim import FAST, Cluster

SIZES = (3, 5)
NEW_MEMBERS = 2  # ids size+1.. may join
COMPACT_EVERY = (None, 1, 3)  # None: never compact
Action = tuple[Any, ...]
Schedule = tuple[int, int, int | None, bool, list[Action]]


def actions(size: int) -> st.SearchStrategy[Action]:
    node = st.integers(1, size + NEW_MEMBERS)  # a member not started yet: a no-op
    k = st.integers(0, 63)
    side = st.sets(node, min_size=1, max_size=size - 1)
    return st.one_of(
        # time must pass for elections to happen: ticks weigh as much as all the rest
        *[st.tuples(st.just("ticks"), st.integers(1, 2 * FAST.election_ticks))] * 3,
        # calm spells of ticks with everything delivered, in which elections can finish
        *[st.tuples(st.just("rounds"), st.integers(1, 3 * FAST.election_ticks))] * 3,
        *[st.tuples(st.just("deliver_all"))] * 2,
        st.tuples(st.just("tick"), node),
        *[st.tuples(st.just("deliver"), k)] * 4,
        st.tuples(st.just("drop"), k),
        st.tuples(st.just("duplicate"), k),
        st.tuples(st.just("partition"), side),
        st.tuples(st.just("heal")),
        st.tuples(st.just("crash"), node),
        st.tuples(st.just("slow_disk"), node),
        st.tuples(st.just("flush"), node),
        st.tuples(st.just("restart"), node),
        *[st.tuples(st.just("propose"), node)] * 3,
        st.tuples(st.just("transfer"), node, node),
        *[st.tuples(st.just("add"), node, st.sampled_from(ADDS))] * 2,
        *[st.tuples(st.just("promote"), node, k)] * 2,
        st.tuples(st.just("remove"), node, k),
        *[st.tuples(st.just("read"), node)] * 2,
        st.tuples(st.just("stale_read")),
    )


ADDS = (ConfChangeType.ADD_LEARNER, ConfChangeType.ADD_NODE)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    size = draw(st.sampled_from(SIZES))
    seed = draw(st.integers(0, 2**16))
    compact_every = draw(st.sampled_from(COMPACT_EVERY))
    # without check-quorum a deposed leader goes on leading: its reads must still be safe
    check_quorum = draw(st.booleans())
    steps = draw(st.lists(actions(size), min_size=30, max_size=200))
    return size, seed, compact_every, check_quorum, steps


# actions on nodes: on a member that was never started, nothing happens
ALL_NODES = frozenset({"tick", "crash", "slow_disk", "flush", "restart", "transfer"})
FIRST_NODE = frozenset({"propose", "add", "promote", "remove", "read"})  # then not a node


def run(cluster: Cluster, action: Action) -> None:
    name, *args = action
    nodes = args if name in ALL_NODES else args[:1] if name in FIRST_NODE else []
    if any(node not in cluster.members for node in nodes):
        return
    if name == "partition":
        (side,) = args
        cluster.partition(side, set(cluster.members) - side)
    elif name == "ticks":
        for _ in range(args[0]):
            cluster.tick_all()
    elif name == "rounds":
        for node_id in list(cluster.members):
            cluster.flush(node_id)
        for _ in range(args[0]):
            cluster.tick_all()
            cluster.deliver_all(limit=200)
    elif name == "deliver_all":
        cluster.deliver_all(limit=200)  # a duplicate storm must not run forever
    elif name == "add":
        proposer, kind = args
        new = max(cluster.members) + 1
        if new <= len(cluster.ids) + NEW_MEMBERS:
            cluster.change(proposer, kind, new)
    elif name in ("promote", "remove"):
        proposer, k = args
        change_member(cluster, proposer, name, k)
    elif name == "stale_read":
        stale_read(cluster)
    else:
        getattr(cluster, name)(*args)


def stale_read(cluster: Cluster) -> None:
    """Cut the leader off with as many voters as stay a minority, let the majority elect a
    leader and commit an entry of its term, then ask the old leader for a read (still
    leading when check-quorum is off): the simulator fails the schedule if its ReadState
    ever carries an index below what the majority committed, now or once healed."""
    old = cluster.leader()
    if old is None:
        return
    followers = sorted(old.voters - {old.id})
    minority = {old.id, *followers[: (len(old.voters) - 1) // 2 - 1]}
    cluster.partition(minority, set(cluster.members) - minority)
    for node_id in list(cluster.members):
        cluster.flush(node_id)
    floor = cluster.max_commit
    for _ in range(6 * FAST.election_ticks):
        cluster.tick_all()
        cluster.deliver_all(limit=200)
        new = [n for n in cluster.live() if n.id not in minority and n.role is Role.LEADER]
        if new and new[0].log.committed > floor and new[0].term > old.term:
            break
        if new and new[0].term > old.term:
            cluster.propose(new[0].id)
    cluster.read(old.id)
    event(f"stale read asked after a commit on the majority: {cluster.max_commit > floor}")


def change_member(cluster: Cluster, proposer: int, name: str, k: int) -> None:
    """Promote a learner, or remove a member, of the membership the newest leader has."""
    leader = cluster.leader()
    if leader is None:
        return
    if name == "promote":
        candidates, kind = leader.learners, ConfChangeType.ADD_NODE
    else:
        candidates, kind = leader.voters | leader.learners, ConfChangeType.REMOVE_NODE
    if candidates:
        cluster.change(proposer, kind, sorted(candidates)[k % len(candidates)])


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(schedules())
def test_raft_is_safe_under_any_schedule_and_live_once_healed(
    schedule: Schedule,
) -> None:
    size, seed, compact_every, check_quorum, steps = schedule
    config = replace(FAST, check_quorum=check_quorum)
    cluster = Cluster(size, seed=seed, config=config, compact_every=compact_every)
    for action in steps:
        run(cluster, action)  # every step ends in the simulator's invariant checks
    # what the schedule reached, for --hypothesis-show-statistics (the invariants only
    # bite on schedules that elect leaders and commit entries)
    terms = len(cluster.leaders_by_term)
    event(f"terms with a leader: {terms if terms < 3 else '3 or more'}")
    event(f"entries committed: {'none' if not cluster.committed else '1+'}")
    event(f"a crash: {any(m.lives > 1 or m.node is None for m in cluster.members.values())}")
    event(f"conf changes applied: {'none' if not cluster.conf_changes_applied else '1+'}")
    event(f"members started to join: {len(cluster.members) - size}")
    event(f"reads answered: {'none' if not cluster.read_states else '1+'}")
    cluster.heal()
    for node_id in list(cluster.members):
        cluster.restart(node_id)
        cluster.flush(node_id)
    # a pre-vote needs a quiet election timeout, a vote another: a few timeouts suffice
    # a pre-vote and a vote need a quiet election timeout each; a proposal to a stale
    # leader is lost, and retried: a few timeouts suffice
    cluster.commit_eventually(b"after the heal", 20 * FAST.election_ticks)
    cluster.read_eventually(4 * FAST.election_ticks)
    leader = cluster.leader()
    assert leader is not None
    joined = {m.id for m in cluster.members.values() if m.joined}
    event(f"joiners now voters: {len(joined & leader.voters)}")
    event(f"joiners now learners: {len(joined & leader.learners)}")
    outside = set(cluster.members) - leader.voters - leader.learners
    event(f"started, not members at the end: {len(outside)}")
    snapshots = sum(m.type is MessageType.SNAPSHOT for m in cluster.sent)
    event(f"compact every {compact_every}: snapshots sent: {'none' if not snapshots else '1+'}")
