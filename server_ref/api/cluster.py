"""The Cluster service: the member list, and membership changes (cluster members only)."""

from __future__ import annotations

from urllib.parse import urlsplit

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..server.server import EtcdServer
from .handlers import unary


def checked_peer_urls(urls: list[str]) -> list[str]:
    """etcd's types.NewURLs: every URL http(s)://host:port with nothing after it."""
    for url in urls:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ServerError(E.MEMBER_BAD_URLS) from None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            raise ServerError(E.MEMBER_BAD_URLS)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ServerError(E.MEMBER_BAD_URLS)
    return list(urls)


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

    @unary
    async def MemberAdd(self, r: rpc_pb2.MemberAddRequest) -> rpc_pb2.MemberAddResponse:
        urls = checked_peer_urls(list(r.peerURLs))
        return await self._server.cluster().member_add(urls, r.isLearner)

    @unary
    async def MemberRemove(self, r: rpc_pb2.MemberRemoveRequest) -> rpc_pb2.MemberRemoveResponse:
        return await self._server.cluster().member_remove(r.ID)

    @unary
    async def MemberUpdate(self, r: rpc_pb2.MemberUpdateRequest) -> rpc_pb2.MemberUpdateResponse:
        urls = checked_peer_urls(list(r.peerURLs))
        return await self._server.cluster().member_update(r.ID, urls)

    @unary
    async def MemberPromote(self, r: rpc_pb2.MemberPromoteRequest) -> rpc_pb2.MemberPromoteResponse:
        return await self._server.cluster().member_promote(r.ID)
