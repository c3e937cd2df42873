"""The Maintenance service: status, alarms, hashes, snapshots, leader transfer."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

from etcd3py._proto import rpc_pb2

from ..server.log import Answer
from ..server.server import EtcdServer
from .handlers import unary

ETCD_API_VERSION = "3.5.1"  # reported by Status: the etcd release whose API we serve
SNAPSHOT_CHUNK = 32 * 1024  # etcd's snapshotSendBufferSize


class MaintenanceService:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    @unary
    def Status(self, r: rpc_pb2.StatusRequest) -> rpc_pb2.StatusResponse:
        server = self._server
        resp = rpc_pb2.StatusResponse(
            header=server.header(),
            version=ETCD_API_VERSION,
            dbSize=server.backend.size,
            dbSizeInUse=server.backend.size_in_use,
            leader=server.leader_id,
            raftIndex=server.raft_index,
            raftTerm=server.raft_term,
            raftAppliedIndex=server.raft_index,
        )
        for mid, alarm in server.alarms.active:
            resp.errors.append(f"memberID:{mid} alarm:{rpc_pb2.AlarmType.Name(alarm)} ")
        return resp

    @unary
    def Alarm(self, r: rpc_pb2.AlarmRequest) -> Answer[rpc_pb2.AlarmResponse]:
        return self._server.propose(r)  # GET too: etcd sends every Alarm request through raft

    @unary
    def Defragment(self, r: rpc_pb2.DefragmentRequest) -> rpc_pb2.DefragmentResponse:
        self._server.backend.defragment()  # this member's file only: not a proposal
        return rpc_pb2.DefragmentResponse(header=self._server.header())

    @unary
    def HashKV(self, r: rpc_pb2.HashKVRequest) -> rpc_pb2.HashKVResponse:
        store = self._server.store
        rev = store.check_revision(r.revision)
        return rpc_pb2.HashKVResponse(
            header=self._server.header(),
            hash=store.hash_kv(rev),
            compact_revision=store.compact_rev,
        )

    async def Snapshot(
        self, r: rpc_pb2.SnapshotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        data = self._server.snapshot()  # taken at once: a consistent revision
        for blob, remaining in chunks(data):
            yield rpc_pb2.SnapshotResponse(
                header=self._server.header(), remaining_bytes=remaining, blob=blob
            )

    @unary
    def MoveLeader(self, r: rpc_pb2.MoveLeaderRequest) -> rpc_pb2.MoveLeaderResponse:
        self._server.move_leader(r.targetID)
        return rpc_pb2.MoveLeaderResponse(header=self._server.header())

    @unary
    def Hash(self, r: rpc_pb2.HashRequest) -> rpc_pb2.HashResponse:
        store = self._server.store
        return rpc_pb2.HashResponse(header=self._server.header(), hash=store.hash_kv(store.rev))


def chunks(data: bytes) -> Iterator[tuple[bytes, int]]:
    """As etcd sends its snapshot: (blob, remaining bytes) pairs of 32 KiB, then the
    SHA-256 of the data with 0 remaining."""
    sent = 0
    while sent < len(data):
        blob = data[sent : sent + SNAPSHOT_CHUNK]
        sent += len(blob)
        yield blob, len(data) - sent
    yield hashlib.sha256(data).digest(), 0
