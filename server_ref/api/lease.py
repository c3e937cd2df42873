"""The Lease service; KeepAlive is a stream of renewals, answered one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..server.log import Answer
from ..server.server import EtcdServer
from .handlers import unary


class LeaseService:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    @unary
    def LeaseGrant(self, r: rpc_pb2.LeaseGrantRequest) -> Answer[rpc_pb2.LeaseGrantResponse]:
        return self._server.lease_grant(r)

    @unary
    def LeaseRevoke(self, r: rpc_pb2.LeaseRevokeRequest) -> Answer[rpc_pb2.LeaseRevokeResponse]:
        return self._server.propose(r)

    async def LeaseKeepAlive(
        self,
        request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        server = self._server
        lessor = server.lessor
        async for req in request_iterator:
            # the header is taken before the renewal, as etcd does
            resp = rpc_pb2.LeaseKeepAliveResponse(ID=req.ID, header=server.header())
            try:
                resp.TTL = lessor.renew(req.ID)
            except ServerError:
                resp.TTL = 0  # a missing lease is answered, not an error
            yield resp

    @unary
    def LeaseTimeToLive(self, r: rpc_pb2.LeaseTimeToLiveRequest) -> rpc_pb2.LeaseTimeToLiveResponse:
        server = self._server
        lessor = server.lessor
        lease = lessor.lookup(r.ID)
        if lease is None:
            return rpc_pb2.LeaseTimeToLiveResponse(header=server.header(), ID=r.ID, TTL=-1)
        resp = rpc_pb2.LeaseTimeToLiveResponse(
            header=server.header(),
            ID=r.ID,
            TTL=lessor.remaining_seconds(lease),
            grantedTTL=lease.ttl,
        )
        if r.keys:
            resp.keys.extend(sorted(lease.keys))
        return resp

    @unary
    def LeaseLeases(self, r: rpc_pb2.LeaseLeasesRequest) -> rpc_pb2.LeaseLeasesResponse:
        resp = rpc_pb2.LeaseLeasesResponse(header=self._server.header())
        for lease_id in self._server.lessor.ids():
            resp.leases.add(ID=lease_id)
        return resp
