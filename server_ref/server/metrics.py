"""What a member counts for ``/metrics`` beyond what its state already shows: gRPC calls
by method and outcome (go-grpc-prometheus's ``grpc_server_started_total`` and
``grpc_server_handled_total``), leader changes, failed proposals, lease renewals, and
the open watch streams (their watchers are counted when scraped). Plain integers, so
that counting costs a call next to nothing; api/metrics.py reads them when scraped."""

from __future__ import annotations

import collections
from typing import Protocol


class WatchStreamLike(Protocol):
    @property
    def watcher_count(self) -> int: ...


GrpcMethod = tuple[str, str, str]  # service, method, type (unary, server_stream, ...)


class ServerMetrics:
    def __init__(self) -> None:
        self.grpc_started: collections.Counter[GrpcMethod] = collections.Counter()
        self.grpc_handled: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        self.grpc_methods: set[GrpcMethod] = set()  # every method served, for the zeros
        self.leader_changes = 0
        self.proposals_failed = 0
        self.leases_renewed = 0  # granted and revoked: the lessor counts them
        self.watch_streams: set[WatchStreamLike] = set()  # open Watch calls

    def watchers(self) -> int:
        return sum(stream.watcher_count for stream in list(self.watch_streams))
