"""The end-of-run member check: equal members pass, members holding different data at
the same applied index are flagged (two separate servers stand in for a cluster whose
member diverged: no fault of ours can make a server_ref member diverge)."""

from __future__ import annotations

from etcd3py import Client
from etcd3py.server_ref import EmbeddedCluster, EmbeddedServer
from tests.robustness.member_checks import check_members


def test_members_of_a_healthy_cluster_agree() -> None:
    with EmbeddedCluster(members=3) as cluster:
        cluster.wait_leader(30)
        with Client(cluster.endpoints) as client:
            for i in range(20):
                client.put(b"k%d" % (i % 3), b"v%d" % i)
        verdict = check_members(cluster.endpoints)
    assert verdict.ok, verdict.explanation


def test_members_holding_different_data_are_flagged() -> None:
    with EmbeddedServer() as one, EmbeddedServer() as two:
        with Client(one.endpoint) as client:
            client.put(b"k", b"one")
        with Client(two.endpoint) as client:
            client.put(b"k", b"two")  # same index and revision, other data
        verdict = check_members([one.endpoint, two.endpoint], timeout=5)
    assert not verdict.ok
    assert "members differ at applied index" in verdict.explanation
    assert "revision 2" in verdict.explanation
