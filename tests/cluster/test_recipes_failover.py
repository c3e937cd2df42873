"""Recipes across a leader kill: a Mutex stays held and fenced, an Election keeps its
leader (or says it lost it), observers converge. The client holds every endpoint and
fails over; the sessions' leases survive because the new leader gives every lease its
full TTL again (docs/cluster-facts.md)."""

from __future__ import annotations

import time

import pytest

from etcd3py import AsyncClient, ElectionNotLeaderError, Put
from etcd3py._async._primitives import spawn
from etcd3py.recipes import AsyncElection, AsyncMutex
from tests.support.clusters import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

TTL = 10  # longer than an election: the sessions outlive the failover
WAIT = 20.0


def kill_the_leader(cluster: Cluster) -> int:
    """SIGKILL the leader's member; return its index once the others elected another."""
    leader = cluster.index_of(cluster.wait_leader())
    cluster.kill(leader)
    assert cluster.index_of(cluster.wait_leader()) != leader
    return leader


async def test_mutex_held_through_a_leader_kill(healthy_cluster: Cluster, prefix: bytes) -> None:
    name, data = prefix + b"lock", prefix + b"data"
    async with AsyncClient(healthy_cluster.endpoints, timeout=10) as client:
        holder = AsyncMutex(client, name, ttl=TTL)
        assert await holder.acquire(timeout=5)
        token = holder.revision
        kill_the_leader(healthy_cluster)
        assert holder.held and holder.revision == token
        fenced = await client.txn(compare=[holder.is_owner()], success=[Put(data, "mine")])
        assert fenced.succeeded
        waiter = AsyncMutex(client, name, ttl=TTL)
        assert not await waiter.acquire(timeout=0.5)  # still excluded
        task = spawn(lambda: waiter.acquire(timeout=WAIT), name="waiter")
        deadline = time.monotonic() + WAIT
        while (await client.get(name + b"/", prefix=True, count_only=True)).count < 2:
            assert time.monotonic() < deadline, "the waiter never queued"
        await holder.release()
        await task.join(WAIT)
        assert waiter.held and waiter.revision > token
        assert (await client.get(data)).value == b"mine"
        await waiter.release()
        assert (await client.get(name + b"/", prefix=True, count_only=True)).count == 0


async def test_election_leader_across_a_leader_kill(
    healthy_cluster: Cluster, prefix: bytes
) -> None:
    name = prefix + b"election"
    async with AsyncClient(healthy_cluster.endpoints, timeout=10) as client:
        leader = AsyncElection(client, name, ttl=TTL)
        assert await leader.campaign("v1", timeout=5)
        async with AsyncElection(client, name, ttl=TTL).observe() as observer:
            seen = await observer.get(timeout=WAIT)
            assert seen is not None and seen.value == b"v1"
            kill_the_leader(healthy_cluster)
            if leader.is_leader:
                await leader.proclaim("v2")
            else:  # its session was lost: it is told so, and leads no more
                with pytest.raises(ElectionNotLeaderError):
                    await leader.proclaim("v2")
                assert await leader.campaign("v2", timeout=WAIT)
            deadline = time.monotonic() + WAIT
            while seen is None or seen.value != b"v2":
                assert time.monotonic() < deadline, "the observer never saw the new value"
                seen = await observer.get(timeout=max(0.1, deadline - time.monotonic()))
            assert seen.key == leader.key
        current = await AsyncElection(client, name, ttl=TTL).leader()
        assert current is not None and (current.key, current.value) == (leader.key, b"v2")
        await leader.resign()
        assert await AsyncElection(client, name, ttl=TTL).leader() is None
