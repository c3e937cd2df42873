"""The Maintenance service: status, alarms, hashes, snapshots, leader transfer.

Snapshot, Hash and HashKV read the whole state: each takes it at one point on the
event loop (``state.freeze``, references only), then encodes or hashes it in a worker
thread, so a large store does not stop the server while it is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..server import state
from ..server.log import Answer
from ..server.server import EtcdServer
from ..storage.snapshot import snapshot_chunks
from .handlers import serve_as, unary

ETCD_API_VERSION = "3.5.1"  # reported by Status: the etcd release whose API we serve


def cluster_version(server: EtcdServer) -> str:
    """The cluster's version (``/version``'s etcdcluster): once its leader decided it."""
    if server.replicator is None:
        return state.CLUSTER_VERSION
    return server.cluster_version or "not_decided"


# etcd's maintenance server hands on the auth store's own errors for the calls that
# need root (Hash, HashKV, Defragment, Snapshot), untranslated
_AS_AUTH_TEXT = {
    E.USER_EMPTY: E.AUTH_USER_EMPTY,
    E.USER_NOT_FOUND: E.AUTH_USER_NOT_FOUND,
    E.PERMISSION_DENIED: E.AUTH_PERMISSION_DENIED,
    E.INVALID_AUTH_TOKEN: E.AUTH_INVALID_TOKEN,
}


class MaintenanceService:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    def _root_only(self) -> None:
        """The caller must be root (with auth enabled), as etcd's authMaintenanceServer."""
        try:
            self._server.check_admin()
        except ServerError as err:
            raise ServerError(_AS_AUTH_TEXT.get(err.spec, err.spec)) from None

    @unary
    def Status(self, r: rpc_pb2.StatusRequest) -> rpc_pb2.StatusResponse:
        server = self._server
        resp = rpc_pb2.StatusResponse(
            header=server.header(),
            version=ETCD_API_VERSION,
            dbSize=server.backend.size,
            dbSizeInUse=server.backend.size_in_use,
            leader=server.leader_id,
            # alone: committed = durable = applied; entries still waiting for the log's
            # fsync are neither, as a proposal not yet committed is not in etcd's
            raftIndex=server.raft_index if server.replicator else server.applied_index,
            raftTerm=server.raft_term,
            raftAppliedIndex=server.applied_index,
            isLearner=server.member.is_learner,
        )
        if not server.leader_id:  # etcd's Status says so first
            resp.errors.append(E.NO_LEADER.message)
        for mid, alarm in server.alarms.active:
            resp.errors.append(f"memberID:{mid} alarm:{rpc_pb2.AlarmType.Name(alarm)} ")
        return resp

    @unary
    def Alarm(self, r: rpc_pb2.AlarmRequest) -> Answer[rpc_pb2.AlarmResponse]:
        return self._server.propose(r)  # GET too: etcd sends every Alarm request through raft

    @unary
    def Defragment(self, r: rpc_pb2.DefragmentRequest) -> rpc_pb2.DefragmentResponse:
        self._root_only()
        self._server.backend.defragment()  # this member's file only: not a proposal
        return rpc_pb2.DefragmentResponse(header=self._server.header())

    @unary
    async def HashKV(self, r: rpc_pb2.HashKVRequest) -> rpc_pb2.HashKVResponse:
        self._root_only()
        store = self._server.store
        rev = store.hash_revision(r.revision)
        keys = store.freeze()
        digest = await asyncio.to_thread(keys.hash_kv, rev)
        return rpc_pb2.HashKVResponse(
            header=self._server.header(keys.revision),
            hash=digest,
            compact_revision=keys.compact_revision,
        )

    async def Snapshot(
        self, r: rpc_pb2.SnapshotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        """etcd's db file in 32 KiB chunks, then its SHA-256 (no header, as etcd sends)."""
        serve_as(context)
        try:
            self._root_only()
        except ServerError as err:
            await context.abort(err.spec.code, err.spec.message)
        frozen = state.freeze(self._server)
        data = await asyncio.to_thread(frozen.db)
        for blob, remaining in snapshot_chunks(data):
            yield rpc_pb2.SnapshotResponse(remaining_bytes=remaining, blob=blob)

    @unary
    async def MoveLeader(self, r: rpc_pb2.MoveLeaderRequest) -> rpc_pb2.MoveLeaderResponse:
        await self._server.move_leader(r.targetID)  # no auth check in etcd 3.5.1
        return rpc_pb2.MoveLeaderResponse(header=self._server.header())

    @unary
    async def Hash(self, r: rpc_pb2.HashRequest) -> rpc_pb2.HashResponse:
        """etcd's hash of its whole db (members, leases, alarms, auth and meta too), not
        of the key space only: members that are alike differ by their member records."""
        self._root_only()
        frozen = state.freeze(self._server)
        digest = await asyncio.to_thread(frozen.hash)
        return rpc_pb2.HashResponse(header=self._server.header(frozen.keys.revision), hash=digest)
