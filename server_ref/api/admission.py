"""What a cluster member refuses before serving a call (etcd's gRPC interceptors).

- A learner serves only Status, serializable Ranges and Snapshot streams: anything
  else is "etcdserver: rpc not supported for learner", and the client tries another
  member.
- A call with etcd's ``hasleader`` metadata (a client's require-leader mode) is refused
  with "etcdserver: no leader" while the member knows no leader, instead of waiting for
  one.

A member started alone has no leader to lose and no learner role: it admits every
call without this check (``services.py`` installs it for cluster members only).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..server.server import EtcdServer
from .registry import Admit

REQUIRE_LEADER_KEY = "hasleader"  # etcd's rpctypes.MetadataRequireLeaderKey
_LEARNER_STREAMS = frozenset({"Snapshot"})


def _learner_may(method: str, request: Message | None) -> bool:
    if request is None:
        return method in _LEARNER_STREAMS
    if isinstance(request, rpc_pb2.StatusRequest):
        return True
    return isinstance(request, rpc_pb2.RangeRequest) and request.serializable


def cluster_admission(server: EtcdServer) -> Admit:
    replicator = server.replicator
    assert replicator is not None

    async def admit(method: str, request: Message | None, context: Any) -> None:
        if server.member.is_learner and not _learner_may(method, request):
            spec = E.NOT_SUPPORTED_FOR_LEARNER
            await context.abort(spec.code, spec.message)
        if not replicator.has_leader():
            for key, value in context.invocation_metadata() or ():
                if key == REQUIRE_LEADER_KEY and value == "true":
                    await context.abort(E.NO_LEADER.code, E.NO_LEADER.message)

    return admit
