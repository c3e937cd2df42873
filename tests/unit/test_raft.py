"""The Raft core's rules, one example each, driven by hand or through the simulator."""

from __future__ import annotations

import random

import pytest

from etcd3py.server_ref.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ProgressState,
    ProposalDroppedError,
    RaftNode,
    Role,
    Snapshot,
    decode_conf_change,
    encode_conf_change,
)
from etcd3py.server_ref.raft.log import LogConflictError, RaftLog
from tests.support.raft_sim import FAST, Cluster

ELECTION = FAST.election_ticks


def elected(cluster: Cluster) -> RaftNode:
    cluster.run_until(lambda: cluster.leader() is not None, 20 * ELECTION)
    leader = cluster.leader()
    assert leader is not None
    cluster.deliver_all()
    return leader


def campaign_tick(seed: int) -> int:
    node = RaftNode(1, [1, 2, 3], random.Random(seed), FAST)
    for tick in range(1, 3 * ELECTION):
        node.tick()
        if node.role is not Role.FOLLOWER:
            return tick
    raise AssertionError("never campaigned")


def test_election_timeout_is_randomized_in_election_to_twice_election() -> None:
    ticks = {campaign_tick(seed) for seed in range(40)}
    assert min(ticks) >= ELECTION
    assert max(ticks) < 2 * ELECTION
    assert len(ticks) > 1
    assert campaign_tick(7) == campaign_tick(7)  # the seed decides: deterministic


def test_a_cluster_elects_one_leader_and_commits_a_proposal() -> None:
    cluster = Cluster(3, seed=1)
    leader = elected(cluster)
    assert cluster.propose(leader.id, b"x")
    cluster.run_until(lambda: cluster.applied_everywhere(b"x"), 2 * ELECTION)
    assert {n.log.committed for n in cluster.live()} == {2}  # the leader's no-op, then x


def test_a_follower_forwards_a_proposal_to_its_leader() -> None:
    cluster = Cluster(3, seed=2)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    assert cluster.propose(follower, b"via follower")
    cluster.run_until(lambda: cluster.applied_everywhere(b"via follower"), 2 * ELECTION)


def test_a_proposal_without_a_leader_is_dropped() -> None:
    node = RaftNode(1, [1, 2, 3], random.Random(0), FAST)
    with pytest.raises(ProposalDroppedError):
        node.propose(b"x")


def test_a_leader_counts_its_own_entry_only_once_it_is_durable() -> None:
    node = RaftNode(1, [1], random.Random(0), FAST)
    while node.role is not Role.LEADER:
        node.tick()
    ready = node.ready()
    assert [e.data for e in ready.entries] == [b""]
    assert ready.committed_entries == ()  # not durable yet: not counted
    node.advance(ready)
    ready = node.ready()
    assert [e.index for e in ready.committed_entries] == [1]
    assert ready.hard_state == HardState(term=1, vote=1, commit=1)
    node.advance(ready)
    node.propose(b"x")
    ready = node.ready()
    assert node.log.committed == 1 and ready.committed_entries == ()
    node.advance(ready)
    assert [e.data for e in node.ready().committed_entries] == [b"x"]


def test_only_a_leader_whose_term_and_vote_are_durable_may_send_before_it_persists() -> None:
    node = RaftNode(1, [1, 2, 3], random.Random(0), FAST)
    while node.role is Role.FOLLOWER:
        node.tick()
        ready = node.ready()
        assert not ready.send_first
        node.advance(ready)
    for voter in (2, 3):
        node.step(Message(MessageType.PRE_VOTE_RESPONSE, to=1, sender=voter, term=node.term + 1))
    assert node.role is Role.CANDIDATE
    campaign = node.ready()
    assert {m.type for m in campaign.messages} == {MessageType.VOTE}
    assert not campaign.send_first  # its vote for itself must be durable first
    node.advance(campaign)
    node.step(Message(MessageType.VOTE_RESPONSE, to=1, sender=2, term=node.term))
    assert node.role is Role.LEADER
    elected = node.ready()
    assert elected.entries and {m.type for m in elected.messages} == {MessageType.APPEND}
    assert elected.send_first  # its appends may go while it writes its no-op


def test_a_leader_with_one_follower_of_three_waits_for_its_own_disk() -> None:
    """A follower's ack is one of a quorum of two: the leader's copy is the other, counted
    only after advance."""
    cluster = Cluster(3, seed=3)
    leader = elected(cluster)
    committed = leader.log.committed
    follower = next(i for i in cluster.ids if i != leader.id)
    leader.propose(b"x")  # not through the cluster: its Ready stays with us
    ready = leader.ready()
    for message in ready.messages:
        if message.to == follower:
            cluster.node(follower).step(message)
    for answer in cluster.node(follower).ready().messages:
        leader.step(answer)
    assert leader.progress[follower].match == leader.log.last_index
    assert leader.log.committed == committed  # the leader's own entry is not durable yet
    leader.advance(ready)
    assert leader.log.committed == leader.log.last_index


@pytest.mark.parametrize("pre_vote", [True, False])
def test_pre_vote_keeps_a_partitioned_node_from_bumping_terms(pre_vote: bool) -> None:
    cluster = Cluster(3, seed=4, config=Config(**{**FAST.__dict__, "pre_vote": pre_vote}))
    leader = elected(cluster)
    term = leader.term
    lonely = next(i for i in cluster.ids if i != leader.id)
    cluster.partition({lonely}, set(cluster.ids) - {lonely})
    for _ in range(10 * ELECTION):
        cluster.tick(lonely)
    assert (cluster.node(lonely).term == term) is pre_vote
    cluster.heal()
    for _ in range(2 * ELECTION):
        cluster.tick_all()
        cluster.deliver_all()
    elected(cluster)
    # with pre-vote, rejoining disturbed nobody; without, the higher term deposed the leader
    assert (cluster.leader() is leader and leader.term == term) is pre_vote


@pytest.mark.parametrize("check_quorum", [True, False])
def test_check_quorum_steps_a_partitioned_leader_down(check_quorum: bool) -> None:
    config = Config(**{**FAST.__dict__, "check_quorum": check_quorum})
    cluster = Cluster(3, seed=5, config=config)
    leader = elected(cluster)
    cluster.partition({leader.id}, set(cluster.ids) - {leader.id})
    for _ in range(2 * ELECTION):
        cluster.tick(leader.id)
    assert (leader.role is Role.LEADER) is not check_quorum


@pytest.mark.parametrize("check_quorum", [True, False])
def test_a_follower_with_a_live_leader_ignores_a_vote_of_a_higher_term(
    check_quorum: bool,
) -> None:
    config = Config(**{**FAST.__dict__, "check_quorum": check_quorum})
    cluster = Cluster(3, seed=6, config=config)
    leader = elected(cluster)
    follower = cluster.node(next(i for i in cluster.ids if i != leader.id))
    term = follower.term
    for kind in (MessageType.PRE_VOTE, MessageType.VOTE):
        vote = Message(
            kind,
            to=follower.id,
            sender=99,
            term=term + 5,
            index=follower.log.last_index,
            log_term=follower.log.last_term,
        )
        follower.step(vote)
    answers = follower.ready().messages
    ignored = check_quorum  # the lease: the leader was heard from within a timeout
    assert (follower.term == term) is ignored
    assert (answers == ()) is ignored


def test_a_transfer_hands_leadership_to_an_up_to_date_follower() -> None:
    cluster = Cluster(3, seed=7)
    leader = elected(cluster)
    term = leader.term
    target = next(i for i in cluster.ids if i != leader.id)
    cluster.transfer(leader.id, target)
    cluster.deliver_all()
    assert cluster.leader() is cluster.node(target)
    assert cluster.node(target).term == term + 1
    assert leader.role is Role.FOLLOWER


def test_a_transfer_catches_a_lagging_follower_up_first_and_holds_proposals() -> None:
    cluster = Cluster(3, seed=8)
    leader = elected(cluster)
    lagging = next(i for i in cluster.ids if i != leader.id)
    cluster.partition({lagging}, set(cluster.ids) - {lagging})
    for n in range(5):
        assert cluster.propose(leader.id, f"x{n}".encode())
    cluster.deliver_all()
    cluster.heal()
    cluster.transfer(lagging, lagging)  # asked at the transferee: forwarded to the leader
    cluster.deliver(0)  # the forwarded request reaches the leader
    assert leader.transferee == lagging
    with pytest.raises(ProposalDroppedError):
        leader.propose(b"during the transfer")
    new = cluster.node(lagging)
    # its window of appends was lost in the partition: a heartbeat round reopens it
    cluster.run_until(lambda: new.role is Role.LEADER, ELECTION - 1)
    assert [e.data for e in new.log.entries(1)][-6:-1] == [f"x{n}".encode() for n in range(5)]


def test_a_transfer_that_does_not_finish_in_an_election_timeout_is_abandoned() -> None:
    cluster = Cluster(3, seed=9)
    leader = elected(cluster)
    target = next(i for i in cluster.ids if i != leader.id)
    cluster.crash(target)
    cluster.transfer(leader.id, target)
    assert leader.transferee == target
    for _ in range(ELECTION):
        cluster.tick(leader.id)
        cluster.deliver_all()
    assert leader.transferee == 0 and leader.role is Role.LEADER
    assert cluster.propose(leader.id, b"after")


def test_only_an_entry_of_the_leaders_term_is_committed_by_counting() -> None:
    """Raft's figure 8: a leader holds an older term's entry that a quorum now has; it may
    not commit it until an entry of its own term after it reaches a quorum."""
    config = Config(**{**FAST.__dict__, "max_entries_per_append": 1})
    old = [Entry(1, 1), Entry(2, 2, b"old")]
    one = RaftNode(1, [1, 2, 3], random.Random(0), config, HardState(term=2), old)
    two = RaftNode(2, [1, 2, 3], random.Random(0), config, HardState(term=2), old[:1])
    while one.role is not Role.LEADER:  # node 3 is down; node 2 votes
        one.tick()
        for message in one.ready().messages:
            if message.to == 2:
                two.step(message)
        for message in two.ready().messages:
            one.step(message)
    assert one.term == 3 and one.log.last_index == 3

    def exchange() -> None:
        ready = one.ready()
        one.advance(ready)  # the leader's no-op at index 3 is durable from the first one
        for message in ready.messages:
            if message.to == 2:
                two.step(message)
        ready = two.ready()
        two.advance(ready)
        for message in ready.messages:
            one.step(message)

    exchange()  # the probe after index 2 is refused: 2 lacks it
    assert one.progress[2].match == 0
    exchange()  # one entry per append: 2 holds index 2 (term 2) now
    assert one.progress[2].match == 2
    assert one.log.committed < 2
    exchange()  # then the no-op of term 3: both commit together
    assert one.progress[2].match == 3 and one.log.committed == 3


def test_a_reject_hint_skips_a_whole_diverging_term() -> None:
    cluster = Cluster(3, seed=10)
    old = elected(cluster)
    cluster.partition({old.id}, set(cluster.ids) - {old.id})
    for n in range(12):  # never committed: the old leader is alone
        cluster.propose(old.id, f"lost{n}".encode())
    cluster.run_until(lambda: cluster.leader() not in (None, old), 40 * ELECTION)
    new = cluster.leader()
    assert new is not None
    for n in range(12):
        cluster.propose(new.id, f"kept{n}".encode())
    cluster.deliver_all()
    # a leader of yet another term: its first probe to the old leader lands past the
    # entries that both logs share, on entries of three different terms
    third = next(i for i in cluster.ids if i not in (old.id, new.id))
    cluster.transfer(new.id, third)
    cluster.deliver_all()
    assert cluster.leader() is cluster.node(third)
    sent_before = len(cluster.sent)
    cluster.heal()
    cluster.run_until(lambda: cluster.applied_everywhere(b"kept11"), 20 * ELECTION)
    rejects = [
        m
        for m in cluster.sent[sent_before:]
        if m.type is MessageType.APPEND_RESPONSE and m.reject and m.sender == old.id
    ]
    assert 1 <= len(rejects) <= 2  # not one per diverging entry
    assert not any(e.data.startswith(b"lost") for e in old.log.entries(1))


def test_the_flow_control_window_bounds_appends_in_flight() -> None:
    cluster = Cluster(3, seed=11)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    assert leader.progress[follower].state is ProgressState.REPLICATE
    for n in range(20):  # nothing is delivered meanwhile
        cluster.propose(leader.id, f"x{n}".encode())
    appends = [m for m in cluster.in_flight if m.to == follower and m.type is MessageType.APPEND]
    assert len(appends) == FAST.max_inflight
    assert leader.progress[follower].is_paused()
    cluster.run_until(lambda: cluster.applied_everywhere(b"x19"), 4 * ELECTION)


def test_a_lost_window_recovers_through_a_probe() -> None:
    cluster = Cluster(3, seed=12)
    leader = elected(cluster)
    for n in range(10):
        cluster.propose(leader.id, f"x{n}".encode())
    cluster.in_flight.clear()  # every append of the window is lost
    cluster.run_until(lambda: cluster.applied_everywhere(b"x9"), 6 * ELECTION)


def test_a_restarted_node_keeps_only_what_it_persisted() -> None:
    cluster = Cluster(3, seed=13)
    leader = elected(cluster)
    assert cluster.propose(leader.id, b"x")
    cluster.run_until(lambda: cluster.applied_everywhere(b"x"), 2 * ELECTION)
    for node_id in cluster.ids:
        cluster.crash(node_id)
    for node_id in cluster.ids:
        cluster.restart(node_id)
    node = cluster.node(leader.id)
    assert node.role is Role.FOLLOWER and node.term == leader.term and node.vote == leader.vote
    assert [e.data for e in node.log.entries(1)] == [b"", b"x"]
    cluster.run_until(lambda: cluster.leader() is not None, 20 * ELECTION)
    assert cluster.propose(cluster.leader().id, b"y")  # type: ignore[union-attr]
    cluster.run_until(lambda: cluster.applied_everywhere(b"y"), 4 * ELECTION)
    assert [e.data for e in cluster.members[1].applied] == [b"", b"x", b"", b"y"]


def test_an_entry_only_the_leaders_memory_and_one_follower_hold_is_not_committed() -> None:
    """The leader sends while its disk writes; one follower of two acknowledges. Were the
    leader's copy counted before it is durable, the entry would be committed, then lost
    when the leader crashes, and the next leader would lack it."""
    cluster = Cluster(3, seed=14)
    leader = elected(cluster)
    acker, other = (i for i in cluster.ids if i != leader.id)
    cluster.slow_disk(leader.id)
    assert cluster.propose(leader.id, b"x")
    assert cluster.members[leader.id].writing is not None
    cluster.in_flight = [m for m in cluster.in_flight if m.to == acker]
    cluster.deliver_all()  # the append reaches the acker; its answer the leader
    assert leader.progress[acker].match == leader.log.last_index
    assert b"x" not in {e.data for e in cluster.committed.values()}
    cluster.crash(leader.id)  # before its disk write finished
    cluster.restart(leader.id)
    cluster.partition({acker}, {leader.id, other})
    cluster.run_until(lambda: cluster.leader() not in (None, cluster.node(acker)), 40 * ELECTION)
    assert b"x" not in {e.data for e in cluster.committed.values()}


def elect_within(cluster: Cluster, group: set[int]) -> RaftNode:
    """Cut `group` off from the rest and run it until one of it leads a newer term; stop
    at that moment, with the new leader's first appends still in flight."""
    cluster.partition(group, set(cluster.ids) - group)
    term = max(n.term for n in cluster.live())
    for _ in range(40 * ELECTION):
        for node_id in sorted(group):
            cluster.tick(node_id)
        while cluster.in_flight:
            cluster.deliver(0)
            leader = cluster.leader()
            if leader is not None and leader.id in group and leader.term > term:
                return leader
    raise AssertionError(f"{group} elected nobody")


def test_figure_8_an_older_terms_entry_on_a_quorum_can_still_be_overwritten() -> None:
    """Raft's figure 8, in five nodes: an entry of term 2 that a leader of term 4 has put on
    a quorum is not committed by that count (and is overwritten by the leader of term 5);
    committing it by counting would break leader completeness."""
    config = Config(**{**FAST.__dict__, "max_entries_per_append": 1})
    cluster = Cluster(5, seed=15, config=config)
    first = elected(cluster)
    peer = next(i for i in cluster.ids if i != first.id)
    cluster.partition({first.id, peer}, set(cluster.ids) - {first.id, peer})
    assert cluster.propose(first.id, b"x")
    cluster.deliver_all()  # x reaches only the peer
    cluster.crash(first.id)
    rest = set(cluster.ids) - {first.id, peer}
    second = elect_within(cluster, rest)  # its no-op, at x's index, reaches nobody
    cluster.in_flight.clear()
    cluster.crash(second.id)
    cluster.restart(first.id)
    others = sorted(rest - {second.id})
    third = elect_within(cluster, {first.id, peer, others[0]})
    assert third.id in (first.id, peer)
    while third.progress[others[0]].match < 2:
        cluster.deliver(0)  # until x, alone, reaches the third voter and it says so
    assert cluster.node(others[0]).log.last_index == 2
    assert third.log.committed < 2  # x is on a quorum, but not of this leader's term
    cluster.crash(third.id)
    cluster.restart(second.id)
    cluster.in_flight.clear()
    fourth = elect_within(cluster, {second.id, *others})
    assert fourth.id == second.id and fourth.log.entries(2, 1)[0].term == second.term
    cluster.run_until(lambda: cluster.node(others[0]).log.term(2) == second.log.term(2), 99)
    assert b"x" not in {e.data for e in cluster.committed.values()}


def test_an_append_commits_no_further_than_the_entries_it_vouches_for() -> None:
    """Raft §5.3: commit = min(leader's commit, last new entry). Entries past the append
    may be an older term's leftovers the leader has not overwritten yet."""
    log = RaftLog([Entry(1, 1), Entry(1, 2), Entry(1, 3, b"leftover")])
    assert log.try_append(1, 1, leader_commit=3, entries=[Entry(1, 2)]) == 2
    assert log.committed == 2 and log.last_index == 3  # a matching append truncates nothing
    assert log.try_append(2, 2, leader_commit=3, entries=[]) is None  # 2 is not of term 2
    assert log.try_append(2, 1, leader_commit=3, entries=[Entry(2, 3, b"new")]) == 3
    assert log.entries(3) == (Entry(2, 3, b"new"),) and log.committed == 3
    with pytest.raises(LogConflictError):
        log.try_append(1, 1, leader_commit=3, entries=[Entry(3, 2)])  # rewrites a committed one


# ---- snapshots and log compaction


def snapshot_lagging_follower(seed: int) -> tuple[Cluster, RaftNode, int]:
    """A 3-node cluster compacting every 3 entries, whose leader compacted past what a
    follower, cut off meanwhile, holds; the partition is still up."""
    cluster = Cluster(3, seed=seed, compact_every=3)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    cluster.partition({follower}, set(cluster.ids) - {follower})
    for n in range(8):
        assert cluster.propose(leader.id, f"x{n}".encode())
    cluster.deliver_all()
    assert leader.log.offset > cluster.node(follower).log.last_index  # gone from the log
    return cluster, leader, follower


def test_a_follower_behind_the_compacted_log_catches_up_by_snapshot_then_appends() -> None:
    cluster, leader, follower = snapshot_lagging_follower(seed=21)
    cluster.heal()
    cluster.sent.clear()
    assert cluster.propose(leader.id, b"after")
    cluster.run_until(lambda: cluster.applied_everywhere(b"after"), 4 * ELECTION)
    to_follower = [m for m in cluster.sent if m.to == follower]
    kinds = [m.type for m in to_follower if m.type is not MessageType.HEARTBEAT]
    first_snapshot = kinds.index(MessageType.SNAPSHOT)
    assert MessageType.APPEND in kinds[first_snapshot + 1 :]  # then the entries after it
    snapshot = to_follower[[m.type for m in to_follower].index(MessageType.SNAPSHOT)].snapshot
    assert snapshot is not None and snapshot.voters == frozenset(cluster.ids)
    node = cluster.node(follower)
    assert node.log.snapshot == snapshot and node.log.offset >= snapshot.index
    assert cluster.members[follower].disk.snapshot.index >= snapshot.index
    assert cluster.members[follower].applied == cluster.members[leader.id].applied
    assert leader.progress[follower].state is ProgressState.REPLICATE


def lose_the_snapshot(cluster: Cluster) -> None:
    """Tick and deliver everything but the first snapshot sent, which is lost."""
    for _ in range(ELECTION):
        cluster.tick_all()
        lost = False
        while cluster.in_flight:
            if cluster.in_flight[0].type is MessageType.SNAPSHOT:
                cluster.drop(0)
                lost = True
            else:
                cluster.deliver(0)
        if lost:
            return
    raise AssertionError("no snapshot sent")


def test_a_lost_snapshot_is_sent_again_after_an_election_timeout() -> None:
    cluster, leader, follower = snapshot_lagging_follower(seed=22)
    cluster.heal()
    lose_the_snapshot(cluster)
    assert leader.progress[follower].state is ProgressState.SNAPSHOT
    cluster.sent.clear()
    assert cluster.propose(leader.id, b"after")
    cluster.run_until(lambda: cluster.applied_everywhere(b"after"), 4 * ELECTION)
    assert [m.to for m in cluster.sent if m.type is MessageType.SNAPSHOT] == [follower]


def test_no_snapshot_goes_to_a_follower_not_heard_from_lately() -> None:
    cluster, leader, follower = snapshot_lagging_follower(seed=24)
    cluster.heal()
    lose_the_snapshot(cluster)
    cluster.partition({follower}, set(cluster.ids) - {follower})
    for _ in range(2 * ELECTION):  # the snapshot is taken as lost, the follower as silent
        cluster.tick_all()
        cluster.deliver_all()
    pr = leader.progress[follower]
    assert pr.state is ProgressState.PROBE and not pr.recent_active
    cluster.sent.clear()
    assert cluster.propose(leader.id, b"after")  # its broadcast would reach the follower
    cluster.deliver_all()
    assert not [m for m in cluster.sent if m.type is MessageType.SNAPSHOT]
    cluster.heal()
    cluster.run_until(lambda: cluster.applied_everywhere(b"after"), 4 * ELECTION)
    assert [m.to for m in cluster.sent if m.type is MessageType.SNAPSHOT] == [follower]


def test_a_restart_starts_from_the_persisted_snapshot_and_the_entries_after_it() -> None:
    cluster = Cluster(3, seed=23, compact_every=4)
    leader = elected(cluster)
    for n in range(6):
        assert cluster.propose(leader.id, f"x{n}".encode())
    cluster.run_until(lambda: cluster.applied_everywhere(b"x5"), 4 * ELECTION)
    member = cluster.members[leader.id]
    before = list(member.applied)
    snapshot, tail = member.disk.snapshot, [e.index for e in member.disk.entries]
    assert 0 < snapshot.index < 7 and tail == list(range(snapshot.index + 1, 8))
    cluster.crash(leader.id)
    cluster.restart(leader.id)
    node = cluster.node(leader.id)
    assert node.log.offset == snapshot.index and node.log.last_index == 7
    assert node.log.committed == 7 and member.applied == before  # snapshot, then the tail
    cluster.run_until(lambda: cluster.leader() is not None, 20 * ELECTION)
    assert cluster.propose(cluster.leader().id, b"y")  # type: ignore[union-attr]
    cluster.run_until(lambda: cluster.applied_everywhere(b"y"), 4 * ELECTION)


def test_a_follower_restores_only_a_snapshot_newer_than_its_commit() -> None:
    log = [Entry(term=1, index=i, data=f"e{i}".encode()) for i in range(1, 6)]
    node = RaftNode(1, [1, 2, 3], random.Random(0), FAST, HardState(term=1, commit=3), log)
    node.advance(node.ready())  # applies 1..3
    node.compact(3, b"e1 e2 e3")

    def offer(index: int, term: int) -> Message:
        voters = frozenset({1, 2, 3})
        snapshot = Snapshot(index=index, term=term, voters=voters, data=b"state")
        node.step(Message(MessageType.SNAPSHOT, to=1, sender=2, term=1, snapshot=snapshot))
        (answer,) = node.ready().messages
        return answer

    stale = offer(2, 1)  # older than our own: ignored, and the leader told our commit
    assert stale.type is MessageType.APPEND_RESPONSE and stale.index == 3 and not stale.reject
    assert node.log.offset == 3 and node.log.last_index == 5 and node.log.snapshot.index == 3
    held = offer(4, 1)  # we hold its last entry: only our commit moves, the tail stays
    assert held.index == 4 and node.log.offset == 3 and node.log.last_index == 5
    assert node.log.committed == 4
    newer = Snapshot(index=7, term=1, voters=frozenset({1, 2, 3}), data=b"state")
    node.step(Message(MessageType.SNAPSHOT, to=1, sender=2, term=1, snapshot=newer))
    ready = node.ready()
    assert ready.snapshot == newer and ready.entries == () and ready.committed_entries == ()
    assert ready.hard_state is not None and ready.hard_state.commit == 7
    assert [(m.type, m.index) for m in ready.messages] == [(MessageType.APPEND_RESPONSE, 7)]
    node.advance(ready)
    assert node.log.offset == node.log.last_index == node.log.applied == 7
    assert not node.ready()  # the snapshot was handed over once


def test_a_snapshot_replaces_a_log_whose_entry_at_its_index_diverges() -> None:
    log = [Entry(term=t, index=i) for i, t in enumerate([1, 1, 2, 2, 2], start=1)]
    node = RaftNode(1, [1, 2, 3], random.Random(0), FAST, HardState(term=3, commit=2), log)
    node.advance(node.ready())
    snapshot = Snapshot(index=4, term=3, voters=frozenset({1, 2, 3}), data=b"state")
    node.step(Message(MessageType.SNAPSHOT, to=1, sender=2, term=3, snapshot=snapshot))
    ready = node.ready()
    assert ready.snapshot == snapshot  # our uncommitted entries 3..5 of term 2 are gone
    assert node.log.offset == node.log.last_index == node.log.committed == 4
    assert node.log.last_term == 3


# ---- membership changes

ADD_NODE, ADD_LEARNER = ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER
REMOVE_NODE = ConfChangeType.REMOVE_NODE


def test_a_conf_change_encodes_compactly_and_back() -> None:
    change = ConfChange(ConfChangeType.UPDATE_NODE, 2**40 + 3, b"peer urls")
    assert decode_conf_change(encode_conf_change(change)) == change
    assert len(encode_conf_change(ConfChange(ADD_NODE, 4))) == 9


def test_a_conf_change_is_committed_then_applied_where_the_driver_applies_it() -> None:
    cluster = Cluster(3, seed=31)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    assert cluster.change(follower, ADD_LEARNER, 4)  # forwarded to the leader
    cluster.run_until(lambda: cluster.conf_changes_applied == 4, 4 * ELECTION)
    conf = [e for e in leader.log.entries(1) if e.kind is EntryKind.CONF_CHANGE]
    assert [decode_conf_change(e.data) for e in conf] == [ConfChange(ADD_LEARNER, 4)]
    for node in cluster.live():
        assert (node.voters, node.learners) == ({1, 2, 3}, {4})
    assert leader.progress[4].match == leader.log.last_index  # replicated to
    assert cluster.propose(leader.id, b"x")
    cluster.run_until(lambda: cluster.applied_everywhere(b"x"), 2 * ELECTION)
    assert b"x" in {e.data for e in cluster.members[4].applied}


def test_a_learner_does_not_campaign_and_its_vote_does_not_count() -> None:
    config = Config(**{**FAST.__dict__, "pre_vote": False})
    learner = RaftNode(3, [1, 2], random.Random(0), config, learners=[3])
    for _ in range(5 * ELECTION):
        learner.tick()
    assert learner.role is Role.FOLLOWER and learner.ready().messages == ()
    one = RaftNode(1, [1, 2], random.Random(0), config, learners=[3])
    while one.role is not Role.CANDIDATE:
        one.tick()
    assert {m.to for m in one.ready().messages} == {2}  # a learner is not asked
    one.step(Message(MessageType.VOTE_RESPONSE, to=1, sender=3, term=one.term))
    assert one.role is Role.CANDIDATE  # two grants of two nodes, but one voter of two
    one.step(Message(MessageType.VOTE_RESPONSE, to=1, sender=2, term=one.term))
    assert one.role is Role.LEADER and set(one.progress) == {1, 2, 3}


def test_a_learners_copy_does_not_count_toward_a_commit() -> None:
    cluster = Cluster(3, seed=32)
    leader = elected(cluster)
    assert cluster.change(leader.id, ADD_LEARNER, 4)
    cluster.run_until(lambda: cluster.conf_changes_applied == 4, 4 * ELECTION)
    for node_id in set(cluster.ids) - {leader.id}:
        cluster.crash(node_id)
    assert cluster.propose(leader.id, b"x")
    cluster.deliver_all()
    assert leader.progress[4].match == leader.log.last_index  # leader and learner hold it
    assert leader.log.committed < leader.log.last_index  # but one voter of three does


def test_removing_a_node_commits_what_the_rest_hold() -> None:
    cluster = Cluster(2, seed=33)
    leader = elected(cluster)
    other = cluster.node(next(i for i in cluster.ids if i != leader.id))
    leader.propose_conf_change(ConfChange(REMOVE_NODE, other.id))  # by hand from here
    leader.propose(b"x")
    ready = leader.ready()
    leader.advance(ready)
    first_append = next(m for m in ready.messages if m.type is MessageType.APPEND)
    assert [e.kind for e in first_append.entries] == [EntryKind.CONF_CHANGE]
    other.step(first_append)
    for answer in other.ready().messages:
        leader.step(answer)
    ready = leader.ready()
    (conf,) = ready.committed_entries
    x_index = leader.log.last_index
    assert leader.log.committed == conf.index < x_index  # x needs both, the other lacks it
    leader.apply_conf_change(decode_conf_change(conf.data))
    assert leader.voters == {leader.id} and other.id not in leader.progress
    assert leader.log.committed == x_index  # a quorum of the one voter left


def test_a_second_conf_change_while_one_is_unapplied_becomes_an_empty_entry() -> None:
    node = RaftNode(1, [1], random.Random(0), FAST)
    while node.role is not Role.LEADER:
        node.tick()
    node.advance(node.ready())
    node.advance(node.ready())  # the no-op is committed and applied
    node.propose_conf_change(ConfChange(ADD_LEARNER, 2))
    node.propose_conf_change(ConfChange(ADD_LEARNER, 3))  # the first is not applied yet
    first, second = node.log.entries(node.log.last_index - 1)
    assert first.kind is EntryKind.CONF_CHANGE and decode_conf_change(first.data).node_id == 2
    assert second.kind is EntryKind.NORMAL and second.data == b""
    node.advance(node.ready())
    ready = node.ready()
    for entry in ready.committed_entries:
        if entry.kind is EntryKind.CONF_CHANGE:
            node.apply_conf_change(decode_conf_change(entry.data))
    node.advance(ready)
    node.propose_conf_change(ConfChange(ADD_LEARNER, 3))  # the first is applied: taken
    assert node.log.entries(node.log.last_index)[0].kind is EntryKind.CONF_CHANGE
    assert node.learners == {2}


def test_a_conf_change_proposed_while_the_pending_one_is_committed_waits_for_its_apply() -> None:
    """A member may answer a committed conf change before the leader applies it; the
    caller's next change must not then become an empty entry (it would time out)."""
    node = RaftNode(1, [1], random.Random(0), FAST)
    while node.role is not Role.LEADER:
        node.tick()
    node.advance(node.ready())
    node.advance(node.ready())  # the no-op is committed and applied
    node.propose_conf_change(ConfChange(ADD_LEARNER, 2))
    node.advance(node.ready())  # durable: committed, to be applied in the next Ready
    ready = node.ready()
    assert node.log.applied < node.pending_conf_index <= node.log.committed
    node.propose_conf_change(ConfChange(ADD_LEARNER, 3))
    assert node.log.last_index == node.pending_conf_index  # held, not an empty entry
    for entry in ready.committed_entries:
        if entry.kind is EntryKind.CONF_CHANGE:
            node.apply_conf_change(decode_conf_change(entry.data))
    node.advance(ready)
    (taken,) = node.log.entries(node.log.last_index)
    assert taken.kind is EntryKind.CONF_CHANGE and decode_conf_change(taken.data).node_id == 3
    assert node.pending_conf_index == taken.index


def test_a_new_node_catches_up_from_appends_then_takes_part() -> None:
    cluster = Cluster(3, seed=34)
    leader = elected(cluster)
    for n in range(5):
        assert cluster.propose(leader.id, f"x{n}".encode())
    assert cluster.change(leader.id, ADD_NODE, 4)
    new = cluster.node(4)
    for _ in range(5 * ELECTION):  # not a member yet: it never campaigns
        new.tick()
    assert new.role is Role.FOLLOWER and new.term == 0
    cluster.run_until(lambda: cluster.conf_changes_applied == 4, 4 * ELECTION)
    assert new.voters == {1, 2, 3, 4} and new.learners == frozenset()
    assert cluster.members[4].applied == cluster.members[leader.id].applied
    assert leader.quorum == 3
    cluster.transfer(leader.id, 4)  # a voter now: it may even lead
    cluster.deliver_all()
    assert cluster.leader() is new
    assert cluster.propose(4, b"led by 4")
    cluster.run_until(lambda: cluster.applied_everywhere(b"led by 4"), 4 * ELECTION)


def test_a_new_node_catches_up_from_a_snapshot_older_than_its_addition() -> None:
    cluster = Cluster(3, seed=35, compact_every=4)
    leader = elected(cluster)
    for n in range(9):
        assert cluster.propose(leader.id, f"x{n}".encode())
    cluster.deliver_all()
    assert cluster.change(leader.id, ADD_LEARNER, 4)
    cluster.run_until(lambda: cluster.conf_changes_applied == 4, 4 * ELECTION)
    (snapshot,) = [m.snapshot for m in cluster.sent if m.type is MessageType.SNAPSHOT]
    assert snapshot is not None and 4 not in snapshot.voters | snapshot.learners
    new = cluster.node(4)
    assert new.learners == {4} and new.voters == {1, 2, 3}
    assert cluster.change(leader.id, ADD_NODE, 4)  # promoted
    cluster.run_until(lambda: cluster.conf_changes_applied == 8, 4 * ELECTION)
    assert new.voters == {1, 2, 3, 4}
    cluster.crash(4)  # restarts from its own snapshot and log, still a member
    cluster.restart(4)
    assert cluster.node(4).voters == {1, 2, 3, 4}


def test_a_leader_that_removes_itself_steps_down_and_never_campaigns() -> None:
    cluster = Cluster(3, seed=36)
    leader = elected(cluster)
    term = leader.term
    assert cluster.change(leader.id, REMOVE_NODE, leader.id)
    cluster.deliver_all()
    assert leader.role is Role.FOLLOWER and leader.voters == set(cluster.ids) - {leader.id}
    cluster.run_until(lambda: cluster.leader() not in (None, leader), 20 * ELECTION)
    new = cluster.leader()
    assert new is not None and new.term > term and new.voters == leader.voters
    for _ in range(5 * ELECTION):
        cluster.tick(leader.id)
    assert leader.role is Role.FOLLOWER


def test_a_transfer_to_a_learner_is_refused_and_one_to_a_removed_node_abandoned() -> None:
    cluster = Cluster(3, seed=37)
    leader = elected(cluster)
    assert cluster.change(leader.id, ADD_LEARNER, 4)
    cluster.run_until(lambda: cluster.conf_changes_applied == 4, 4 * ELECTION)
    cluster.transfer(leader.id, 4)
    assert leader.transferee == 0
    target = next(i for i in cluster.ids if i != leader.id)
    cluster.crash(target)
    assert cluster.change(leader.id, REMOVE_NODE, target)  # in flight, not yet committed
    cluster.transfer(leader.id, target)
    assert leader.transferee == target
    cluster.deliver_all()  # the removal commits (two of three) and is applied
    assert target not in leader.voters and leader.transferee == 0
    assert cluster.propose(leader.id, b"taken again")


def test_a_conf_change_after_the_index_forbids_compacting_to_it() -> None:
    cluster = Cluster(1, seed=38)
    leader = elected(cluster)
    assert cluster.change(leader.id, ADD_LEARNER, 2)
    assert cluster.propose(leader.id, b"x")
    cluster.deliver_all()
    with pytest.raises(ValueError, match="conf change"):
        leader.compact(1, b"")
    snapshot = leader.compact(leader.log.applied, b"")
    assert snapshot.voters == {1} and snapshot.learners == {2}


def test_an_append_carries_at_most_max_size_per_msg_bytes_but_one_entry_at_least() -> None:
    config = Config(**{**FAST.__dict__, "max_size_per_msg": 10, "max_entries_per_append": 9})
    cluster = Cluster(3, seed=39, config=config)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    cluster.partition({follower}, set(cluster.ids) - {follower})
    for data in (b"a" * 4, b"b" * 4, b"c" * 4, b"d" * 30, b"e"):
        assert cluster.propose(leader.id, data)
    cluster.deliver_all()
    cluster.heal()
    cluster.sent.clear()
    cluster.run_until(lambda: cluster.applied_everywhere(b"e"), 4 * ELECTION)
    sizes = [
        [len(e.data) for e in m.entries]
        for m in cluster.sent
        if m.type is MessageType.APPEND and m.to == follower and m.entries
    ]
    assert [4, 4] in sizes and [30] in sizes  # 4 + 4 + 4 > 10; 30 alone
    assert all(sum(s) <= 10 or len(s) == 1 for s in sizes)


# ---- ReadIndex


def test_a_read_on_the_leader_waits_for_a_quorum_to_confirm_it_leads() -> None:
    cluster = Cluster(3, seed=41)
    leader = elected(cluster)
    context = cluster.read(leader.id)
    assert context is not None and context not in cluster.read_states
    heartbeats = [m for m in cluster.in_flight if m.type is MessageType.HEARTBEAT]
    assert len(heartbeats) == 2 and len({m.context for m in heartbeats}) == 1
    assert heartbeats[0].context.endswith(context)  # named among the leader's own reads
    cluster.deliver_all()
    assert cluster.read_states[context] == [(leader.id, leader.log.committed)]


def test_a_single_voter_answers_a_read_at_once() -> None:
    node = RaftNode(1, [1], random.Random(0), FAST, learners=[2])
    while node.role is not Role.LEADER:
        node.tick()
    node.read_index(b"r")
    assert node.ready().read_states[0].context == b"r"


def test_a_read_on_a_follower_is_forwarded_and_answered_by_the_leader() -> None:
    cluster = Cluster(3, seed=42)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    context = cluster.read(follower)
    assert context is not None
    (forwarded,) = cluster.in_flight
    assert (forwarded.type, forwarded.to, forwarded.term) == (MessageType.READ_INDEX, leader.id, 0)
    cluster.deliver_all()
    assert cluster.read_states[context] == [(follower, leader.log.committed)]
    with pytest.raises(ProposalDroppedError):
        RaftNode(1, [1, 2, 3], random.Random(0), FAST).read_index(b"no leader")


def test_reads_of_different_members_under_the_same_context_are_each_answered() -> None:
    """A context names a read among its own member's reads: every driver counts its own
    (the bug: the leader took a follower's read for a duplicate of its own, answered only
    its own, and the follower's waited for its driver to ask again)."""
    cluster = Cluster(3, seed=46)
    leader = elected(cluster)
    follower = next(i for i in cluster.ids if i != leader.id)
    for node_id in (follower, leader.id):
        cluster.read_floor[b"same"] = cluster.max_commit
        cluster.node(node_id).read_index(b"same")
        cluster.settle()
    cluster.deliver_all()
    answered = sorted(node_id for node_id, _ in cluster.read_states[b"same"])
    assert answered == sorted([follower, leader.id])


def test_a_new_leader_holds_reads_until_an_entry_of_its_term_commits() -> None:
    cluster = Cluster(3, seed=43)
    old = elected(cluster)
    new = elect_within(cluster, set(cluster.ids) - {old.id})
    cluster.in_flight.clear()  # its no-op reaches nobody: not committed
    assert new.log.term(new.log.committed) != new.term
    context = cluster.read(new.id)
    assert context is not None
    cluster.deliver_all()
    assert not [m for m in cluster.in_flight if m.context == context]  # held: no heartbeat
    others = sorted(set(cluster.ids) - {old.id})
    for _ in range(2):
        for node_id in others:
            cluster.tick(node_id)
        cluster.deliver_all()
    ((node_id, index),) = cluster.read_states[context]
    assert node_id == new.id and new.log.term(index) == new.term  # at least its no-op


def test_a_leader_that_steps_down_drops_its_reads() -> None:
    cluster = Cluster(3, seed=44)
    leader = elected(cluster)
    cluster.partition({leader.id}, set(cluster.ids) - {leader.id})
    context = cluster.read(leader.id)
    assert context is not None
    for _ in range(2 * ELECTION):
        cluster.tick(leader.id)  # check-quorum: it steps down
    assert leader.role is Role.FOLLOWER
    cluster.heal()
    cluster.run_until(lambda: cluster.leader() is not None, 20 * ELECTION)
    for _ in range(2 * ELECTION):
        cluster.tick_all()
        cluster.deliver_all()
    assert context not in cluster.read_states


def test_a_partitioned_old_leaders_read_never_yields_a_read_state() -> None:
    config = Config(**{**FAST.__dict__, "check_quorum": False})
    cluster = Cluster(3, seed=45, config=config)
    old = elected(cluster)
    cluster.partition({old.id}, set(cluster.ids) - {old.id})
    cluster.run_until(lambda: cluster.leader() not in (None, old), 40 * ELECTION)
    new = cluster.leader()
    assert new is not None
    assert cluster.propose(new.id, b"newer")
    cluster.run_until(lambda: new.log.committed == new.log.last_index, 2 * ELECTION)
    assert old.role is Role.LEADER  # no check-quorum: it still thinks it leads
    context = cluster.read(old.id)
    assert context is not None
    for _ in range(2 * ELECTION):
        cluster.tick_all()
        cluster.deliver_all()
    cluster.heal()  # its heartbeats now meet the newer term: it steps down
    for _ in range(2 * ELECTION):
        cluster.tick_all()
        cluster.deliver_all()
    assert old.role is Role.FOLLOWER and context not in cluster.read_states
