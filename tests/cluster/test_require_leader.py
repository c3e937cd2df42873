"""A require-leader Watch stream (etcd's ``hasleader`` metadata) on a member that loses
its quorum: etcd's stream interceptor ends it with "etcdserver: no leader" once the
member went three election timeouts without a leader (monitorLeader); a new one is
refused at once then."""

from __future__ import annotations

import time

import grpc
import pytest

from etcd3py._proto import rpc_pb2_grpc
from tests.support.backends import WatchStream
from tests.support.clusters import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

REQUIRE_LEADER = (("hasleader", "true"),)


async def test_a_require_leader_watch_ends_without_a_leader(
    healthy_cluster: Cluster, prefix: bytes
) -> None:
    cluster = healthy_cluster
    survivor = cluster.index_of(cluster.wait_leader())  # (blocking calls: no client here)
    with grpc.insecure_channel(cluster.endpoint(survivor)) as channel:
        stub = rpc_pb2_grpc.WatchStub(channel)
        stream = WatchStream(stub, REQUIRE_LEADER)
        stream.create(prefix)
        lenient = WatchStream(stub)  # without the metadata: kept open
        lenient.create(prefix)
        try:
            _lose_the_leader(cluster, survivor, stub, stream, lenient)
        finally:
            stream.close()
            lenient.close()


def _lose_the_leader(
    cluster: Cluster,
    survivor: int,
    stub: rpc_pb2_grpc.WatchStub,
    stream: WatchStream,
    lenient: WatchStream,
) -> None:
    for i in range(3):
        if i != survivor:
            cluster.kill(i)
    killed = time.monotonic()
    with pytest.raises(grpc.RpcError) as ended:
        stream.next(timeout=30)
    took = time.monotonic() - killed
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ended.value.details() == "etcdserver: no leader"
    assert took >= 2  # an election timeout to notice, then three more of them
    refused_stream = WatchStream(stub, REQUIRE_LEADER)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            refused_stream.next(timeout=10)
    finally:
        refused_stream.close()
    assert refused.value.details() == "etcdserver: no leader"
    with pytest.raises(TimeoutError):
        lenient.next(timeout=0.5)  # nothing ends it: no event, no error
