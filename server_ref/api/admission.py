"""What a cluster member refuses before serving a call (etcd's gRPC interceptors).

- A learner serves only Status, serializable Ranges and Snapshot streams: anything
  else is "etcdserver: rpc not supported for learner", and the client tries another
  member.
- A call with etcd's ``hasleader`` metadata (a client's require-leader mode) is refused
  with "etcdserver: no leader" while the member knows no leader, instead of waiting for
  one; such a stream already open is ended with that error once the member went three
  election timeouts without a leader.

A member started alone has no leader to lose and no learner role: it admits every
call without this check (``services.py`` installs it for cluster members only).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..server.server import EtcdServer
from .registry import Admit, end_stream

REQUIRE_LEADER_KEY = "hasleader"  # etcd's rpctypes.MetadataRequireLeaderKey
MAX_NO_LEADER = 3  # etcd's maxNoLeaderCnt: election timeouts without a leader
_LEARNER_STREAMS = frozenset({"Snapshot"})


def _learner_may(method: str, request: Message | None) -> bool:
    if request is None:
        return method in _LEARNER_STREAMS
    if isinstance(request, rpc_pb2.StatusRequest):
        return True
    return isinstance(request, rpc_pb2.RangeRequest) and request.serializable


def cluster_admission(server: EtcdServer, serving: Callable[[], bool]) -> Admit:
    replicator = server.replicator
    assert replicator is not None
    watched: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
    monitor: list[asyncio.Task[None]] = []

    async def admit(method: str, request: Message | None, context: Any) -> None:
        if server.member.is_learner and not _learner_may(method, request):
            spec = E.NOT_SUPPORTED_FOR_LEARNER
            await context.abort(spec.code, spec.message)
        metadata = context.invocation_metadata() or ()
        if not any(k == REQUIRE_LEADER_KEY and v == "true" for k, v in metadata):
            return
        if not replicator.has_leader():
            await context.abort(E.NO_LEADER.code, E.NO_LEADER.message)
        if request is None:  # a stream: ended if the member stays without a leader
            task = asyncio.current_task()
            assert task is not None
            watched.add(task)
            if not monitor:
                monitor.append(asyncio.get_running_loop().create_task(watch_leader()))

    async def watch_leader() -> None:
        """etcd's monitorLeader: every election timeout, look for a leader; after
        MAX_NO_LEADER looks without one, end the require-leader streams."""
        missed = 0
        while serving():
            await asyncio.sleep(replicator.election_timeout)
            missed = 0 if replicator.has_leader() else missed + 1
            if missed >= MAX_NO_LEADER:
                for task in list(watched):
                    end_stream(task, E.NO_LEADER)
                watched.clear()

    return admit
