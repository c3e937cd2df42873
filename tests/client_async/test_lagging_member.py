"""A member cut off from its peers: reads that must not go back in time, and writes
whose outcome is unknown.

One member of a 3-member cluster is cut off from its peers (server_ref's partition, or
real etcd's peer traffic cut by proxies): it keeps answering serializable reads from
its own, older state. A plain client reads the past there; one made with
``ordering=True`` refuses to. A write sent to it times out in etcd's own words.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from etcd3py import (
    AsyncClient,
    DeadlineExceededError,
    Get,
    NoLeaderError,
    ServerTimeoutError,
    StaleReadError,
)
from tests.support.lagging import LaggingCluster, lagging_cluster
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=["ref", "etcd"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LaggingCluster]:
    yield from lagging_cluster(request.param, Path(tmp_path_factory.mktemp("lagging")))


@pytest.fixture
def lagging(cluster: LaggingCluster) -> Iterator[int]:
    """A follower cut off from the others (healed after the test)."""
    leader = cluster.leader()
    behind = (leader + 1) % 3
    cluster.isolate(behind)
    try:
        yield behind
    finally:
        cluster.heal()


@pytest.fixture
def key() -> bytes:
    return f"/ordering/{uuid.uuid4().hex[:12]}".encode()


def _current(cluster: LaggingCluster, lagging: int) -> str:
    return cluster.endpoints[(lagging + 1) % 3]


async def test_reads_on_a_lagging_member_are_asked_again_elsewhere(
    cluster: LaggingCluster, lagging: int, key: bytes
) -> None:
    current, behind = _current(cluster, lagging), cluster.endpoints[lagging]
    async with AsyncClient(current) as writer:
        written = (await writer.put(key, "new")).header.revision
    async with AsyncClient(behind) as plain:  # the past, as a plain client reads it
        old = await plain.get(key, serializable=True)
    assert old.header.revision < written and old.count == 0
    async with AsyncClient([current, behind], ordering=True) as ordered:
        assert (await ordered.get(key)).header.revision >= written  # round robin: current first
        for _ in range(4):  # every other call goes to the lagging member first
            got = await ordered.get(key, serializable=True)
            assert got.header.revision >= written and got.value == b"new"
            read = await ordered.txn([], [Get(key, serializable=True)], [])
            assert read.header.revision >= written


async def test_no_member_current_enough_raises_stale_read(
    cluster: LaggingCluster, lagging: int, key: bytes
) -> None:
    current, behind = _current(cluster, lagging), cluster.endpoints[lagging]
    with TcpProxy(int(current.rsplit(":", 1)[1])) as proxy:
        async with AsyncClient(
            [proxy.endpoint, behind], ordering=True, lb_policy="pick_first", timeout=2
        ) as ordered:
            written = (await ordered.put(key, "new")).header.revision  # seen: written
            proxy.down()  # only the lagging member is left
            with pytest.raises(StaleReadError) as refused:
                await ordered.get(key, serializable=True)
            assert refused.value.seen == written and 0 < refused.value.read < written
            assert refused.value.endpoints == (behind,)
            assert not refused.value.outcome_unknown
            proxy.up()
            got = await ordered.get(key, serializable=True, timeout=10)
            assert got.header.revision >= written and got.value == b"new"


async def test_a_write_to_a_cut_off_member_times_out_with_its_outcome_unknown(
    cluster: LaggingCluster, lagging: int, key: bytes
) -> None:
    # etcd's words depend on what the member knows: still following its old leader, the
    # proposal times out after etcd's 7 s ("request timed out"); once it knows it has no
    # leader, its raft takes no proposal and Go's own "context deadline exceeded" ends it
    async with AsyncClient(cluster.endpoints[lagging], timeout=20) as client:
        with pytest.raises((ServerTimeoutError, DeadlineExceededError)) as timed_out:
            await client.put(key, "v")
    assert timed_out.value.outcome_unknown
    assert timed_out.value.details in (
        "etcdserver: request timed out",
        "context deadline exceeded",
    )


async def test_a_write_refused_for_no_leader_was_not_applied(
    cluster: LaggingCluster, lagging: int, key: bytes
) -> None:
    behind = cluster.endpoints[lagging]
    async with (
        AsyncClient(behind, timeout=5) as plain,
        AsyncClient(behind, require_leader=True, timeout=5) as client,
    ):
        deadline = time.monotonic() + 15
        while (await plain.status(behind)).leader:  # until it knows it lost its leader
            assert time.monotonic() < deadline, "the cut-off member kept its leader"
        with pytest.raises(NoLeaderError) as refused:  # etcd checks before proposing
            await client.put(key, "v")
    assert not refused.value.outcome_unknown
