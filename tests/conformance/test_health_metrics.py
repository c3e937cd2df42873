"""/metrics on the client URL and on --listen-metrics-urls: etcd 3.5.1's metric names,
types and labels for what server_ref has, parsed with prometheus_client's parser, and
values that move with the work done (etcd's list: docs/probes/metrics_types.txt)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from etcd3py._proto import rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream
from tests.support.servers import EtcdProcess, RefProcess, free_port

HTTP_TIMEOUT = 10.0
GRPC_LABELS = {"grpc_method", "grpc_service", "grpc_type"}
# family name (as prometheus_client names it: counters without _total) -> type, labels
FAMILIES = {
    "etcd_server_has_leader": ("gauge", set()),
    "etcd_server_is_leader": ("gauge", set()),
    "etcd_server_leader_changes_seen": ("counter", set()),
    "etcd_server_proposals_committed_total": ("gauge", set()),
    "etcd_server_proposals_applied_total": ("gauge", set()),
    "etcd_server_proposals_pending": ("gauge", set()),
    "etcd_server_proposals_failed": ("counter", set()),
    "etcd_mvcc_db_total_size_in_bytes": ("gauge", set()),
    "etcd_mvcc_db_total_size_in_use_in_bytes": ("gauge", set()),
    "etcd_debugging_mvcc_keys_total": ("gauge", set()),
    "etcd_debugging_mvcc_watcher_total": ("gauge", set()),
    "etcd_debugging_lease_granted": ("counter", set()),
    "etcd_debugging_lease_revoked": ("counter", set()),
    "etcd_debugging_lease_renewed": ("counter", set()),
    "etcd_disk_wal_fsync_duration_seconds": ("histogram", set()),
    "etcd_disk_backend_commit_duration_seconds": ("histogram", set()),
    "etcd_server_id": ("gauge", {"server_id"}),
    "etcd_server_version": ("gauge", {"server_version"}),
    "etcd_cluster_version": ("gauge", {"cluster_version"}),
    "grpc_server_started": ("counter", GRPC_LABELS),
    "grpc_server_handled": ("counter", {"grpc_code", *GRPC_LABELS}),
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(endpoint: str, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def scrape(endpoint: str) -> tuple[dict[str, tuple[str, set[str]]], Samples]:
    """The families (type, label names) and every sample's value."""
    status, headers, body = get(endpoint, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families: dict[str, tuple[str, set[str]]] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        families[family.name] = (family.type, labels)
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def handled(samples: Samples, service: str, method: str, code: str) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_type": "unary"}
    return value(samples, "grpc_server_handled_total", grpc_code=code, **labels)


def test_families_types_and_labels(backend: Backend) -> None:
    families, samples = scrape(backend.endpoint)
    for name, expected in FAMILIES.items():
        assert families.get(name) == expected, name
    assert value(samples, "etcd_server_has_leader") == 1
    assert value(samples, "etcd_server_is_leader") == 1
    assert value(samples, "etcd_server_version", server_version="3.5.1") == 1
    assert value(samples, "etcd_cluster_version", cluster_version="3.5") == 1
    # every code of every served method is there from the start, zeros included
    for code in ("OK", "Canceled", "InvalidArgument", "OutOfRange", "Unavailable"):
        assert handled(samples, "etcdserverpb.KV", "Compact", code) >= 0


def test_values_move_with_the_work(backend: Backend, prefix: bytes) -> None:
    _, before = scrape(backend.endpoint)
    backend.put(prefix + b"a", b"1")
    backend.put(prefix + b"b", b"2")
    lease = backend.grant(60).ID
    try:
        with pytest.raises(grpc.RpcError) as err:  # a revision not written yet
            backend.range(prefix, revision=10**9)
        assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
        _, after = scrape(backend.endpoint)
    finally:
        backend.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease), timeout=RPC_TIMEOUT)
    applied = "etcd_server_proposals_applied_total"
    assert value(after, applied) >= value(before, applied) + 3  # two puts and a grant
    committed = "etcd_server_proposals_committed_total"
    assert value(after, committed) >= value(before, committed) + 3
    keys = "etcd_debugging_mvcc_keys_total"
    assert value(after, keys) >= value(before, keys) + 2
    granted = "etcd_debugging_lease_granted_total"
    assert value(after, granted) >= value(before, granted) + 1
    put = handled(after, "etcdserverpb.KV", "Put", "OK") - handled(
        before, "etcdserverpb.KV", "Put", "OK"
    )
    assert put >= 2
    out_of_range = handled(after, "etcdserverpb.KV", "Range", "OutOfRange")
    assert out_of_range >= handled(before, "etcdserverpb.KV", "Range", "OutOfRange") + 1
    _, revoked = scrape(backend.endpoint)
    name = "etcd_debugging_lease_revoked_total"
    assert value(revoked, name) >= value(after, name) + 1


def test_watchers_counted(backend: Backend, prefix: bytes) -> None:
    name = "etcd_debugging_mvcc_watcher_total"
    _, before = scrape(backend.endpoint)
    stream = WatchStream(backend.watch_stub)
    try:
        stream.create(prefix)
        stream.create(prefix + b"x")
        _, during = scrape(backend.endpoint)
    finally:
        stream.close()
    assert value(during, name) >= value(before, name) + 2


@pytest.fixture(params=["server_ref", "etcd"])
def metrics_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A member with --listen-metrics-urls: (client endpoint, metrics endpoint)."""
    metrics = f"127.0.0.1:{free_port()}"
    kind = RefProcess if request.param == "server_ref" else EtcdProcess
    proc = kind(tmp_path / "data", extra_args=["--listen-metrics-urls", f"http://{metrics}"])
    proc.start()
    try:
        yield proc.endpoint, metrics
    finally:
        proc.remove()


def test_listen_metrics_urls(metrics_server: tuple[str, str]) -> None:
    client, metrics = metrics_server
    _, before = scrape(metrics)
    backend = Backend("any", client)
    try:
        backend.put(b"k", b"v")  # on a data directory with fsync: the WAL syncs
    finally:
        backend.close()
    # etcd 3.5.1 may answer the put before its WAL sync (etcd-io/etcd#13766): the
    # count can lag the answer a moment, so it is read again until a deadline
    fsyncs = "etcd_disk_wal_fsync_duration_seconds_count"
    deadline = time.monotonic() + RPC_TIMEOUT
    families, after = scrape(metrics)
    while value(after, fsyncs) < value(before, fsyncs) + 1 and time.monotonic() < deadline:
        families, after = scrape(metrics)
    assert families["etcd_server_has_leader"] == ("gauge", set())
    assert value(after, fsyncs) >= value(before, fsyncs) + 1
    status, headers, body = get(metrics, "/health")
    assert (status, body) == (200, b'{"health":"true","reason":""}')
    assert "Access-Control-Allow-Origin" not in headers  # no access controller there
    status, _, body = get(metrics, "/version")  # /metrics and /health only
    assert (status, body) == (404, b"404 page not found\n")
    assert get(client, "/version")[0] == 200
