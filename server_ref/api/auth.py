"""The Auth service: every call is a proposal (etcd sends them all through raft), so
the log holds the auth store's history and the applier checks who may make it."""

from __future__ import annotations

from typing import Any

from etcd3py._proto import rpc_pb2

from ..server.log import Answer
from ..server.server import EtcdServer
from .handlers import unary


class AuthService:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    def _propose(self, r: Any) -> Answer[Any]:
        return self._server.propose(r)

    AuthEnable = unary(_propose)
    AuthDisable = unary(_propose)
    AuthStatus = unary(_propose)
    UserDelete = unary(_propose)
    UserGrantRole = unary(_propose)
    UserRevokeRole = unary(_propose)
    UserGet = unary(_propose)
    UserList = unary(_propose)
    RoleAdd = unary(_propose)
    RoleDelete = unary(_propose)
    RoleGet = unary(_propose)
    RoleList = unary(_propose)
    RoleGrantPermission = unary(_propose)
    RoleRevokePermission = unary(_propose)

    @unary
    async def Authenticate(self, r: rpc_pb2.AuthenticateRequest) -> rpc_pb2.AuthenticateResponse:
        return await self._server.authenticate(r)

    @unary
    async def UserAdd(self, r: rpc_pb2.AuthUserAddRequest) -> Any:
        return await self._server.user_add(r)

    @unary
    async def UserChangePassword(self, r: rpc_pb2.AuthUserChangePasswordRequest) -> Any:
        return await self._server.user_change_password(r)
