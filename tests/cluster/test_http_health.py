"""/health and /version on every member of a cluster, and /health on a member that lost
its quorum: 503 with "RAFT NO LEADER" once it knows no leader (etcd's checkHealth)."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from tests.support.clusters import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

HTTP_TIMEOUT = 10.0  # above the 7 s etcd gives the health read
NO_LEADER_DEADLINE = 40.0


def get(endpoint: str, path: str) -> tuple[int, bytes]:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


async def test_every_member_healthy_and_versioned(healthy_cluster: Cluster) -> None:
    healthy_cluster.wait_leader()
    for endpoint in healthy_cluster.endpoints:
        assert get(endpoint, "/health") == (200, b'{"health":"true","reason":""}')
        status, body = get(endpoint, "/version")
        assert status == 200
        assert json.loads(body) == {"etcdserver": "3.5.1", "etcdcluster": "3.5.0"}


async def test_a_member_without_quorum_is_unhealthy(healthy_cluster: Cluster) -> None:
    cluster = healthy_cluster
    survivor = cluster.index_of(cluster.wait_leader())
    for i in range(len(cluster.endpoints)):
        if i != survivor:
            cluster.kill(i)
    # until the member gives its leader up, the health read waits 7 s and fails (etcd
    # says "RANGE ERROR:etcdserver: request timed out" or "...:context deadline exceeded")
    no_leader = (503, b'{"health":"false","reason":"RAFT NO LEADER"}\n')
    deadline = time.monotonic() + NO_LEADER_DEADLINE
    answer = get(cluster.endpoint(survivor), "/health")
    while answer != no_leader and time.monotonic() < deadline:
        assert answer[0] == 503 and answer[1].startswith(
            b'{"health":"false","reason":"RANGE ERROR:'
        )
        answer = get(cluster.endpoint(survivor), "/health")
    assert answer == no_leader
