"""Faults on a 3-member cluster, as docs/cluster-facts.md records etcd 3.5.1: a leader
killed under a lease (the new leader restarts every lease's countdown; keep-alives sent
to a follower reach the leader); a survivor without quorum."""

from __future__ import annotations

import time

import grpc
import pytest

from etcd3py import AsyncClient, DeadlineExceededError, NoLeaderError
from etcd3py.errors import ServerTimeoutError
from tests.support.clusters import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


async def test_lease_survives_a_leader_kill(healthy_cluster: Cluster, prefix: bytes) -> None:
    cluster = healthy_cluster
    leader = cluster.index_of(cluster.wait_leader())
    follower = (leader + 1) % 3
    async with AsyncClient(cluster.endpoint(follower), timeout=15) as client:
        lease = await client.grant(10)
        await client.put(prefix + b"k", b"v", lease=lease)
        cluster.kill(leader)
        new_leader = cluster.wait_leader()
        assert cluster.index_of(new_leader) != leader
        info = await lease.time_to_live()
        assert info.granted_ttl == 10
        assert 8 <= info.ttl <= 10  # the countdown restarted with the new leader
        assert await lease.refresh() == 10  # a keep-alive through a follower
        assert (await client.get(prefix + b"k")).value == b"v"


async def _until_no_leader(client: AsyncClient, key: bytes) -> NoLeaderError:
    """Poll with require_leader until the survivor knows it has no leader (an election
    timeout after the kill); until then its calls wait for the gone leader."""
    deadline = time.monotonic() + 15
    while True:
        try:
            await client.get(key, serializable=True)
        except NoLeaderError as err:
            return err
        except DeadlineExceededError:
            pass
        assert time.monotonic() < deadline, "the survivor never noticed it lost its leader"


@pytest.mark.slow
async def test_no_quorum(healthy_cluster: Cluster, prefix: bytes) -> None:
    """2 of 3 killed: a write waits ReqTimeout (5 s + 2 election timeouts) and fails, a
    serializable read is served, a linearizable read fails; require_leader fails fast."""
    cluster = healthy_cluster
    leader = cluster.index_of(cluster.wait_leader())
    follower, survivor = (leader + 1) % 3, (leader + 2) % 3
    endpoint = cluster.endpoint(survivor)
    async with AsyncClient(endpoint, timeout=30) as lenient:
        await lenient.put(prefix + b"k", b"v")
        assert (await lenient.get(prefix + b"k", serializable=True)).value == b"v"  # applied
        cluster.kill(follower)
        cluster.kill(leader)
        # sent at once, while the survivor still follows the dead leader (for at least an
        # election timeout): the proposal goes to it and times out
        started = time.monotonic()
        with pytest.raises(ServerTimeoutError) as refused:
            await lenient.put(prefix + b"k", b"lost")
        took = time.monotonic() - started
        assert refused.value.code is grpc.StatusCode.UNAVAILABLE
        assert refused.value.details == "etcdserver: request timed out"
        assert 5 <= took <= 15, took
        got = await lenient.get(prefix + b"k", serializable=True)
        assert got.value == b"v"  # the member's own copy
        with pytest.raises((ServerTimeoutError, DeadlineExceededError)):
            await lenient.get(prefix + b"k", timeout=10)
    async with AsyncClient(endpoint, require_leader=True, timeout=2) as strict:
        await _until_no_leader(strict, prefix + b"k")
        calls = (
            lambda: strict.put(prefix + b"k", b"x"),
            lambda: strict.get(prefix + b"k"),
            lambda: strict.get(prefix + b"k", serializable=True),
        )
        for call in calls:  # (the client retries "no leader" until its timeout)
            with pytest.raises(NoLeaderError, match="etcdserver: no leader"):
                await call()
    async with AsyncClient(endpoint, timeout=5) as plain:
        status = await plain.status()
    assert status.leader == 0
    assert "etcdserver: no leader" in status.errors  # etcd's Status lists it first
