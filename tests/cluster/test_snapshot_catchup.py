"""A member that missed a compaction catches up from a snapshot.

With --snapshot-count 100 the leader snapshots often, but it keeps 5000 entries for
slow followers past each snapshot: a member down while more than that was written
cannot be sent the entries and gets a snapshot instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from etcd3py import AsyncClient
from tests.conftest import BACKENDS
from tests.support.clusters import Cluster, cluster_backends, start_cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster, pytest.mark.slow]

SNAPSHOT_COUNT = 100
MISSED = 5300  # > 5000 catch-up entries + SNAPSHOT_COUNT: the log alone cannot help
CONCURRENCY = 32


@pytest.fixture(scope="module", params=cluster_backends(BACKENDS))
def snapshotting_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("snapshots")
    yield from start_cluster(request.param, root, snapshot_count=SNAPSHOT_COUNT)


async def write_many(client: AsyncClient, prefix: bytes, count: int) -> None:
    """``count`` puts, each its own Raft entry, CONCURRENCY at a time."""
    keys = iter(range(count))

    async def writer() -> None:
        for i in keys:
            await client.put(prefix + b"%05d" % i, b"v%d" % i)

    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENCY):
            group.start_soon(writer)


async def test_member_catches_up_from_a_snapshot(
    snapshotting_cluster: Cluster, prefix: bytes
) -> None:
    cluster = snapshotting_cluster
    leader = cluster.index_of(cluster.wait_leader())
    behind = (leader + 1) % 3
    up = [i for i in range(3) if i != behind]
    async with AsyncClient([cluster.endpoint(i) for i in up], timeout=10) as client:
        cluster.kill(behind)
        await write_many(client, prefix, MISSED)
        compacted = (await client.put(prefix + b"compacted-at", b"x")).header.revision
        await client.compact(compacted, physical=True)
        last = (await client.put(prefix + b"last", b"x")).header.revision
        cluster.restart(behind)
        async with AsyncClient(cluster.endpoint(behind), timeout=10) as lagging:
            deadline = time.monotonic() + 30
            while (await lagging.get(prefix + b"last", serializable=True)).value != b"x":
                assert time.monotonic() < deadline, "the restarted member never caught up"
                await anyio.sleep(0.1)  # polling its applied state under a deadline
            got = await lagging.get(prefix, prefix=True, serializable=True, keys_only=True)
            assert got.count == MISSED + 2
            assert got.header.revision == last
            mine = await lagging.hash_kv(last, cluster.endpoint(behind))
        leader_endpoint = cluster.endpoint(cluster.index_of(cluster.wait_leader()))
        assert mine == await client.hash_kv(last, leader_endpoint)
