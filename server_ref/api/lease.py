"""The Lease service; KeepAlive is a stream of renewals, answered one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..server.log import Answer
from ..server.server import EtcdServer
from .handlers import unary
from .registry import ended_by_reset


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
        with ended_by_reset(server):
            async for req in request_iterator:
                # the header is taken before the renewal, as etcd does
                resp = rpc_pb2.LeaseKeepAliveResponse(ID=req.ID, header=server.header())
                try:
                    resp.TTL = await server.renew_lease(req.ID)
                except ServerError as err:
                    if err.spec is not E.LEASE_NOT_FOUND:  # no leader to renew it: etcd
                        await context.abort(err.spec.code, err.spec.message)  # ends it
                    resp.TTL = 0  # a missing lease is answered, not an error
                yield resp

    @unary
    def LeaseTimeToLive(
        self, r: rpc_pb2.LeaseTimeToLiveRequest
    ) -> Answer[rpc_pb2.LeaseTimeToLiveResponse]:
        return self._server.lease_time_to_live(r)

    @unary
    def LeaseLeases(self, r: rpc_pb2.LeaseLeasesRequest) -> rpc_pb2.LeaseLeasesResponse:
        resp = rpc_pb2.LeaseLeasesResponse(header=self._server.header())
        for lease_id in self._server.lessor.ids():
            resp.leases.add(ID=lease_id)
        return resp
