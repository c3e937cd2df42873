"""Membership and leadership on a 3-member cluster, through the async client: what
docs/cluster-facts.md records of etcd 3.5.1, asserted identically on both backends."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import pytest

from etcd3py import AsyncClient, Member
from etcd3py.errors import (
    BadLeaderTransfereeError,
    MemberBadURLsError,
    MemberNotFoundError,
    MemberNotLearnerError,
    NotLeaderError,
    NotSupportedForLearnerError,
    PeerURLExistError,
    TooManyLearnersError,
    UnhealthyClusterError,
)
from tests.support.clusters import RECONFIG_TIMEOUT, Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

T = TypeVar("T")
UNKNOWN_ID = 0x1234


async def past_reconfig_check(call: Callable[[], Awaitable[T]]) -> T:
    """Retry ``call`` while etcd's strict reconfiguration check refuses it (a member
    must have been connected to every voter for 5 s)."""
    deadline = time.monotonic() + RECONFIG_TIMEOUT
    while True:
        try:
            return await call()
        except UnhealthyClusterError:
            if time.monotonic() > deadline:
                raise
        await anyio.sleep(0.1)  # polling under a deadline


async def leader_index(cluster: Cluster) -> int:
    return cluster.index_of(cluster.wait_leader())


async def test_member_list_and_status_agree(healthy_cluster: Cluster) -> None:
    async with AsyncClient(healthy_cluster.endpoints, timeout=10) as client:
        members = await client.member_list()
        statuses = [await client.status(e) for e in healthy_cluster.endpoints]
    assert [m.id for m in members] == sorted(m.id for m in members)  # by id
    assert all(m.name and m.client_urls and not m.is_learner for m in members)
    assert sorted(s.member_id for s in statuses) == sorted(m.id for m in members)
    assert len({s.leader for s in statuses}) == 1
    assert statuses[0].leader in {m.id for m in members}
    assert all(s.raft_term >= 2 and s.raft_index >= 8 and not s.is_learner for s in statuses)
    assert all(s.header.revision >= 1 for s in statuses)


async def test_move_leader_to_a_follower(healthy_cluster: Cluster) -> None:
    cluster = healthy_cluster
    old = await leader_index(cluster)
    target = (old + 1) % 3
    async with AsyncClient(cluster.endpoints, timeout=10) as client:
        target_id = (await client.status(cluster.endpoint(target))).member_id
        term = (await client.status(cluster.endpoint(old))).raft_term
        await client.move_leader(target_id)
        assert cluster.wait_leader() == target_id
        # a member learns of the new leader from its first message: soon, not at once
        deadline = time.monotonic() + 5
        while True:
            statuses = [await client.status(e) for e in cluster.endpoints]
            if {s.leader for s in statuses} == {target_id} or time.monotonic() > deadline:
                break
            await anyio.sleep(0.02)  # polling under a deadline
    assert {s.leader for s in statuses} == {target_id}
    assert all(s.raft_term > term for s in statuses)


async def test_move_leader_refusals(healthy_cluster: Cluster) -> None:
    cluster = healthy_cluster
    leader = await leader_index(cluster)
    follower = (leader + 1) % 3
    async with AsyncClient(cluster.endpoint(leader), timeout=10) as client:
        leader_id = (await client.status()).member_id
        await client.move_leader(leader_id)  # to itself: nothing to do
        with pytest.raises(BadLeaderTransfereeError, match="bad leader transferee"):
            await client.move_leader(UNKNOWN_ID)
    async with AsyncClient(cluster.endpoint(follower), timeout=10) as client:
        with pytest.raises(NotLeaderError, match="etcdserver: not leader"):
            await client.move_leader(leader_id)
    assert cluster.wait_leader() == leader_id


async def test_membership_errors(healthy_cluster: Cluster) -> None:
    async with AsyncClient(healthy_cluster.endpoints, timeout=10) as client:
        members = await client.member_list()
        with pytest.raises(MemberNotFoundError, match="etcdserver: member not found"):
            await client.member_remove(UNKNOWN_ID)
        with pytest.raises(MemberNotFoundError, match="etcdserver: member not found"):
            await client.member_update(UNKNOWN_ID, ["http://127.0.0.1:1"])
        with pytest.raises(MemberNotFoundError, match="etcdserver: member not found"):
            await client.member_promote(UNKNOWN_ID)
        with pytest.raises(MemberNotLearnerError, match=r"can only promote a learner member \("):
            await client.member_promote(members[0].id)
        for bad in (["http://127.0.0.1"], ["http://127.0.0.1:1/path"], ["unix://x"]):
            with pytest.raises(MemberBadURLsError, match="given member URLs are invalid"):
                await client.member_add(bad)
        with pytest.raises(PeerURLExistError, match="etcdserver: Peer URLs already exists"):
            await past_reconfig_check(lambda: client.member_add(members[0].peer_urls))
        with pytest.raises(PeerURLExistError, match="etcdserver: Peer URLs already exists"):
            await client.member_update(members[0].id, members[1].peer_urls)
        await client.member_update(members[0].id, members[0].peer_urls)  # unchanged: fine
        assert [m.peer_urls for m in await client.member_list()] == [m.peer_urls for m in members]


async def test_learner_joins_refuses_then_is_promoted(
    healthy_cluster: Cluster, prefix: bytes
) -> None:
    cluster = healthy_cluster
    async with AsyncClient(cluster.endpoints, timeout=10) as client:
        await client.put(prefix + b"before", b"1")
        learner = cluster.add_member(learner=True)
        try:
            listed = {m.id: m for m in await client.member_list()}
            assert listed[learner.id].is_learner
            with pytest.raises(TooManyLearnersError, match="too many learner members"):
                await client.member_add(["http://127.0.0.1:1"], learner=True)
            with pytest.raises(BadLeaderTransfereeError):
                await client.move_leader(learner.id)
            async with AsyncClient(learner.endpoint, timeout=10) as on_learner:
                assert await says_learner(on_learner, True), "the learner never said it was one"
                for refused in (
                    lambda: on_learner.put(prefix + b"k", b"v"),
                    lambda: on_learner.get(prefix + b"before"),
                    lambda: on_learner.member_list(),
                ):
                    with pytest.raises(NotSupportedForLearnerError, match="not supported"):
                        await refused()
                got = await on_learner.get(prefix + b"before", serializable=True)
                assert got.value == b"1"  # caught up with what was written before
                await client.member_promote(learner.id)
                # the learner applies its promotion when the leader's next message
                # carries the commit: soon after the leader answered, not before
                assert await says_learner(on_learner, False), "the promotion never applied"
                await on_learner.put(prefix + b"after", b"2")
            # the member the client asks may apply the promotion a moment later
            assert await eventually(client, lambda listed: not listed[learner.id].is_learner), (
                "the promotion never showed in the member list"
            )
        finally:
            cluster.remove_member(learner.index)
        assert await eventually(client, lambda listed: learner.id not in listed)


async def says_learner(member: AsyncClient, expected: bool, timeout: float = 10) -> bool:
    """Whether the member's own Status, asked again until ``timeout``, says
    ``is_learner == expected``. A member knows it is a learner (or no longer one) when
    it applies the entry that made it so: a joining etcd 3.5.1 member takes its member
    list from --initial-cluster, where nobody is a learner (membership/cluster.go,
    ValidateClusterAndAssignIDs), until it applies its own MemberAdd; server_ref too.
    On a loaded machine that can come after its client port answers."""
    deadline = time.monotonic() + timeout
    while (await member.status()).is_learner != expected:
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(0.02)  # polling under a deadline
    return True


async def eventually(
    client: AsyncClient, check: Callable[[dict[int, Member]], bool], timeout: float = 5
) -> bool:
    """Whether the member list, asked again until ``timeout``, passes ``check`` (a
    membership change reaches each member when it applies it: soon, not at once)."""
    deadline = time.monotonic() + timeout
    while True:
        if check({m.id: m for m in await client.member_list()}):
            return True
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(0.02)  # polling under a deadline


async def test_voter_joins_catches_up_and_leaves(healthy_cluster: Cluster, prefix: bytes) -> None:
    cluster = healthy_cluster
    async with AsyncClient(cluster.endpoints, timeout=10) as client:
        await client.put(prefix + b"before", b"1")
        voter = cluster.add_member(learner=False)
        try:
            async with AsyncClient(voter.endpoint, timeout=10) as on_voter:
                deadline = time.monotonic() + 10
                while (await on_voter.get(prefix + b"before", serializable=True)).value != b"1":
                    assert time.monotonic() < deadline, "the new member never caught up"
                    await anyio.sleep(0.05)  # polling its applied state under a deadline
                assert not (await on_voter.status()).is_learner
                await on_voter.put(prefix + b"after", b"2")  # a voter takes writes
            deadline = time.monotonic() + 10
            while not (listed := {m.id: m for m in await client.member_list()})[voter.id].name:
                assert time.monotonic() < deadline, "the new member never published its name"
                await anyio.sleep(0.05)  # polling the published attributes under a deadline
            joined = listed[voter.id]
            assert not joined.is_learner
            assert any(url.endswith(voter.endpoint) for url in joined.client_urls)
            assert len(listed) == 4
        finally:
            cluster.remove_member(voter.index)
        assert await eventually(client, lambda listed: voter.id not in listed)
        assert (await client.get(prefix + b"after")).value == b"2"


async def test_replaced_leader_rejoins_empty_under_its_name_and_endpoint(
    healthy_cluster: Cluster, prefix: bytes
) -> None:
    """Member replace: MemberRemove the leader, wipe its data, MemberAdd it back under
    the same name and ports; it joins (``existing``) with a new id and catches up."""
    cluster = healthy_cluster
    i = await leader_index(cluster)
    endpoint = cluster.endpoint(i)
    async with AsyncClient(cluster.endpoints, timeout=10) as client:
        await client.put(prefix + b"before", b"1")
        old = {m.id: m for m in await client.member_list()}
        old_id = next(
            member_id for member_id, m in old.items() if m.client_urls[0].endswith(endpoint)
        )
        new_id = cluster.replace_member(i)
        assert new_id != old_id
        assert cluster.endpoint(i) == endpoint
        async with AsyncClient(endpoint, timeout=10) as on_new:
            deadline = time.monotonic() + 10
            while (await on_new.get(prefix + b"before", serializable=True)).value != b"1":
                assert time.monotonic() < deadline, "the replaced member never caught up"
                await anyio.sleep(0.05)  # polling its applied state under a deadline
            assert (await on_new.status()).member_id == new_id
        assert await eventually(
            client,
            lambda listed: (
                old_id not in listed
                and listed.get(new_id) is not None
                and listed[new_id].name == old[old_id].name
                and len(listed) == 3
            ),
            timeout=10,
        )
        cluster.wait_leader()
