"""The cache on a 3-member cluster: the member it watches through is killed."""

from __future__ import annotations

import pytest

from etcd3py import AsyncClient
from etcd3py.recipes import AsyncCache, CacheChange
from tests.support.clusters import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

WAIT = 30.0


async def test_follows_across_the_loss_of_its_member(
    healthy_cluster: Cluster, prefix: bytes
) -> None:
    """No change lost or repeated, and no relist: the member it moves to may lag, and
    the cache tells that from a server that lost history (a linearizable read)."""
    cluster = healthy_cluster
    seen: list[CacheChange] = []
    async with (
        AsyncClient(cluster.endpoints, lb_policy="pick_first", timeout=5) as client,
        AsyncClient(cluster.endpoints[1:], timeout=10) as writer,
    ):
        await writer.put(prefix + b"a", "1")
        async with AsyncCache(client, prefix, probe_interval=0.5) as cache:
            cache.on_change(seen.append)
            for i in range(20):
                last = (await writer.put(prefix + b"k%02d" % i, str(i))).header.revision
            assert await cache.wait_for(last, timeout=WAIT)
            cluster.kill(0)  # the member pick_first reads and watches through
            cluster.wait_leader()  # (it may have led: the writes wait for a new leader)
            await writer.delete(prefix + b"a")
            for i in range(20):
                last = (await writer.put(prefix + b"k%02d" % i, "again")).header.revision
            assert await cache.wait_for(last, timeout=WAIT)
            truth = await writer.get(prefix, prefix=True)
            assert {k: e.value for k, e in cache.snapshot().items()} == {
                kv.key: kv.value for kv in truth.kvs
            }
    assert [c.relisted for c in seen if c.relisted] == []
    revisions = [c.revision for c in seen]
    assert revisions == sorted(set(revisions))  # each step once, in order
    assert sum(len(c.changed) + len(c.deleted) for c in seen) == 41
