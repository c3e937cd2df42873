"""The Raft core under schedules Hypothesis chooses: ticks, deliveries in any order, lost
and duplicated messages, partitions and heals, crashes and restarts, proposals and
transfers; two clusters in three compact their logs every few applied entries, so that
followers left behind are caught up by snapshot. The simulator checks election safety, log
matching, leader completeness and state-machine safety after every step; once everything
heals, a leader must be elected and a proposal committed within a bounded number of ticks."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from etcd3py.server_ref.raft import MessageType
from tests.support.raft_sim import FAST, Cluster

SIZES = (3, 5)
COMPACT_EVERY = (None, 1, 3)  # None: never compact
Action = tuple[Any, ...]


def actions(size: int) -> st.SearchStrategy[Action]:
    node = st.integers(1, size)
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
    )


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, int, int | None, list[Action]]:
    size = draw(st.sampled_from(SIZES))
    seed = draw(st.integers(0, 2**16))
    compact_every = draw(st.sampled_from(COMPACT_EVERY))
    return size, seed, compact_every, draw(st.lists(actions(size), min_size=30, max_size=200))


def run(cluster: Cluster, action: Action) -> None:
    name, *args = action
    if name == "partition":
        (side,) = args
        cluster.partition(side, set(cluster.ids) - side)
    elif name == "ticks":
        for _ in range(args[0]):
            cluster.tick_all()
    elif name == "rounds":
        for node_id in cluster.ids:
            cluster.flush(node_id)
        for _ in range(args[0]):
            cluster.tick_all()
            cluster.deliver_all(limit=200)
    elif name == "deliver_all":
        cluster.deliver_all(limit=200)  # a duplicate storm must not run forever
    else:
        getattr(cluster, name)(*args)


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(schedules())
def test_raft_is_safe_under_any_schedule_and_live_once_healed(
    schedule: tuple[int, int, int | None, list[Action]],
) -> None:
    size, seed, compact_every, steps = schedule
    cluster = Cluster(size, seed=seed, compact_every=compact_every)
    for action in steps:
        run(cluster, action)  # every step ends in the simulator's invariant checks
    # what the schedule reached, for --hypothesis-show-statistics (the invariants only
    # bite on schedules that elect leaders and commit entries)
    terms = len(cluster.leaders_by_term)
    event(f"terms with a leader: {terms if terms < 3 else '3 or more'}")
    event(f"entries committed: {'none' if not cluster.committed else '1+'}")
    event(f"a crash: {any(m.lives > 1 or m.node is None for m in cluster.members.values())}")
    cluster.heal()
    for node_id in cluster.ids:
        cluster.restart(node_id)
        cluster.flush(node_id)
    # a pre-vote needs a quiet election timeout, a vote another: a few timeouts suffice
    # a pre-vote and a vote need a quiet election timeout each; a proposal to a stale
    # leader is lost, and retried: a few timeouts suffice
    cluster.commit_eventually(b"after the heal", 20 * FAST.election_ticks)
    snapshots = sum(m.type is MessageType.SNAPSHOT for m in cluster.sent)
    event(f"compact every {compact_every}: snapshots sent: {'none' if not snapshots else '1+'}")
