"""``/metrics``: a member's figures under etcd 3.5.1's metric names, in Prometheus'
text format, written by prometheus_client (the Prometheus project's own Python
library: its exposition follows the format wherever the format changes, which a
hand-written one would have to be kept up with). Each member has its own registry, so
that the members of an EmbeddedCluster in one process each show their own figures."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..server.server import EtcdServer
from ..storage.disk_metrics import BACKEND_COMMIT, WAL_FSYNC, DurationHistogram
from .maintenance import ETCD_API_VERSION, cluster_version
from .registry import GO_CODE_NAMES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what etcd 3.5.1 answers
GRPC_LABELS = ["grpc_method", "grpc_service", "grpc_type"]


def _gauge(name: str, help: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help, value=value)


def _counter(name: str, help: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help, value=value)


def _histogram(name: str, help: str, histogram: DurationHistogram) -> HistogramMetricFamily:
    buckets, total = histogram.snapshot()
    return HistogramMetricFamily(name, help, buckets=buckets, sum_value=total)


class MemberCollector(Collector):
    """Reads the member's figures when scraped."""

    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        server = self._server
        metrics = server.metrics
        leading = server.leader_id == server.member.id
        committed = server.raft_index if server.replicator else server.applied_index
        yield from (
            _gauge(
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence, 0 is not.",
                1 if server.leader_id else 0,
            ),
            _gauge(
                "etcd_server_is_leader",
                "Whether or not this member is a leader. 1 if is, 0 otherwise.",
                1 if leading else 0,
            ),
            _counter(
                "etcd_server_leader_changes_seen_total",
                "The number of leader changes seen.",
                metrics.leader_changes,
            ),
            _gauge(
                "etcd_server_proposals_committed_total",
                "The total number of consensus proposals committed.",
                committed,
            ),
            _gauge(
                "etcd_server_proposals_applied_total",
                "The total number of consensus proposals applied.",
                server.applied_index,
            ),
            _gauge(
                "etcd_server_proposals_pending",
                "The current number of pending proposals to commit.",
                server.pending_proposals,
            ),
            _counter(
                "etcd_server_proposals_failed_total",
                "The total number of failed proposals seen.",
                metrics.proposals_failed,
            ),
            _gauge(
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
                server.backend.size,
            ),
            _gauge(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
                server.backend.size_in_use,
            ),
            _gauge(
                "etcd_debugging_mvcc_keys_total", "Total number of keys.", server.store.live_keys()
            ),
            _gauge(
                "etcd_debugging_mvcc_watcher_total",
                "Total number of watchers.",
                metrics.watchers(),
            ),
            _counter(
                "etcd_debugging_lease_granted_total",
                "The total number of granted leases.",
                server.lessor.granted,
            ),
            _counter(
                "etcd_debugging_lease_revoked_total",
                "The total number of revoked leases.",
                server.lessor.revoked,
            ),
            _counter(
                "etcd_debugging_lease_renewed_total",
                "The number of renewed leases seen by the leader.",
                metrics.leases_renewed,
            ),
            _histogram(
                "etcd_disk_wal_fsync_duration_seconds",
                "The latency distributions of fsync called by WAL.",
                WAL_FSYNC,
            ),
            _histogram(
                "etcd_disk_backend_commit_duration_seconds",
                "The latency distributions of commit called by backend.",
                BACKEND_COMMIT,
            ),
        )
        yield self._labelled(
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "server_id",
            f"{server.member.id:x}",
        )
        yield self._labelled(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "server_version",
            ETCD_API_VERSION,
        )
        version = cluster_version(server)
        if version != "not_decided":
            yield self._labelled(
                "etcd_cluster_version",
                "Which version is running. 1 for "
                "'cluster_version' label with current cluster version",
                "cluster_version",
                version.rsplit(".", 1)[0],
            )
        yield from self._grpc()

    @staticmethod
    def _labelled(name: str, help: str, label: str, value: str) -> GaugeMetricFamily:
        gauge = GaugeMetricFamily(name, help, labels=[label])
        gauge.add_metric([value], 1)
        return gauge

    def _grpc(self) -> Iterator[Metric]:
        metrics = self._server.metrics
        started = CounterMetricFamily(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            labels=GRPC_LABELS,
        )
        handled = CounterMetricFamily(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            labels=["grpc_code", *GRPC_LABELS],
        )
        for service, method, kind in sorted(metrics.grpc_methods):
            started.add_metric(
                [method, service, kind], metrics.grpc_started[(service, method, kind)]
            )
            for code in GO_CODE_NAMES.values():
                count = metrics.grpc_handled[(service, method, kind, code)]
                handled.add_metric([code, method, service, kind], count)
        yield started
        yield handled


def registry_for(server: EtcdServer) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MemberCollector(server))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
