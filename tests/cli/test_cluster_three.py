"""member, endpoint and move-leader on a 3-member cluster (real etcd processes and
server_ref's EmbeddedCluster) through etcdctl 3.5.1 and ``etcd3py``."""

from __future__ import annotations

import pytest

from etcd3py import Client
from tests.cli.ops_support import Pair
from tests.support.clusters import Cluster

pytestmark = pytest.mark.cluster

FORMATS = ["simple", "json", "fields", "table", "protobuf"]


def leader_and_others(cluster: Cluster) -> tuple[int, list[int]]:
    cluster.wait_leader()
    with Client(cluster.endpoints[0]) as client:
        leader = client.status().leader
        members = sorted(m.id for m in client.member_list())
    return leader, [m for m in members if m != leader]


def test_cluster_views(cluster: Cluster) -> None:
    cluster.ensure_running()
    cluster.wait_leader()
    # one endpoint: with several, each call may be answered by another member (the header)
    pair = Pair(cluster.endpoints[0])
    for fmt in FORMATS:
        pair.both("member", "list", "-w", fmt)
        pair.both("endpoint", "status", "-w", fmt)
        pair.both("endpoint", "status", "--cluster", "-w", fmt)
        pair.both("endpoint", "hashkv", "--cluster", "-w", fmt)
    # etcdctl checks the endpoints in parallel and prints them as they answer
    theirs = pair.view(pair.run(False, "endpoint", "health", "--cluster"))
    ours = pair.view(pair.run(True, "endpoint", "health", "--cluster"))
    assert sorted(ours[0].splitlines()) == sorted(theirs[0].splitlines())
    assert ours[1:] == theirs[1:] == (b"", 0)


def test_move_leader(cluster: Cluster) -> None:
    cluster.ensure_running()
    everyone = ",".join(cluster.endpoints)
    pair = Pair(everyone)
    for ours in (False, True):
        leader, others = leader_and_others(cluster)
        run = pair.run(ours, "move-leader", f"{others[0]:x}")
        assert (run.stdout, run.code) == (
            f"Leadership transferred from {leader:x} to {others[0]:x}\n".encode(),
            0,
        ), run
        assert cluster.wait_leader() == others[0]
    # no leader among the endpoints given: etcdctl's refusal, exit 128
    leader, others = leader_and_others(cluster)
    follower = cluster.endpoints[cluster.index_of(others[0])]
    pair.both("move-leader", f"{others[1]:x}", endpoints=follower)
