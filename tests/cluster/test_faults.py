"""A leader killed under a lease (docs/cluster-facts.md: the new leader restarts every
lease's countdown; keep-alives sent to a follower reach the leader)."""

from __future__ import annotations

import pytest

from etcd3py import AsyncClient
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
