"""The gRPC services of one member, on a grpc.aio server (etcd's v3rpc.Server)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from etcd3py._proto import rpc_pb2, v3election_pb2, v3lock_pb2

from ..server.server import EtcdServer
from .admission import cluster_admission
from .auth import AuthService
from .cluster import ClusterService
from .kv import KVService
from .lease import LeaseService
from .lock_election import ElectionService, LockService
from .maintenance import MaintenanceService
from .registry import register
from .v3client import InProcessClient
from .watch import WatchService


def add_services(
    grpc_server: grpc.aio.Server, server: EtcdServer, serving: Callable[[], bool]
) -> None:
    """Serve etcd's v3 API for ``server``; ``serving()`` turns False once the member has
    begun to stop (waits cut then are cut by the member's end, not by their caller)."""
    admit = None if server.replicator is None else cluster_admission(server, serving)
    register(grpc_server, rpc_pb2, "KV", KVService(server), server.metrics, admit)
    register(grpc_server, rpc_pb2, "Watch", WatchService(server), server.metrics, admit)
    register(grpc_server, rpc_pb2, "Lease", LeaseService(server), server.metrics, admit)
    register(grpc_server, rpc_pb2, "Cluster", ClusterService(server), server.metrics, admit)
    register(grpc_server, rpc_pb2, "Maintenance", MaintenanceService(server), server.metrics, admit)
    register(grpc_server, rpc_pb2, "Auth", AuthService(server), server.metrics, admit)
    client = InProcessClient(server, serving)
    register(grpc_server, v3lock_pb2, "Lock", LockService(client), server.metrics, admit)
    register(
        grpc_server, v3election_pb2, "Election", ElectionService(client), server.metrics, admit
    )
