"""The Cluster service: membership as the server knows it (one member today)."""

from __future__ import annotations

from etcd3py._proto import rpc_pb2

from ..server.server import EtcdServer
from .handlers import unary


class ClusterService:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    @unary
    def MemberList(self, r: rpc_pb2.MemberListRequest) -> rpc_pb2.MemberListResponse:
        # etcd's cluster server leaves the revision out of its headers
        server = self._server
        return rpc_pb2.MemberListResponse(
            header=server.header(0), members=[m.to_pb() for m in server.members]
        )
