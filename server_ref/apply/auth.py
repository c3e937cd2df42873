"""Auth at apply time: the auth requests applied to the auth store, and the permission
checks of every proposal (etcd's authApplierV3 and its applierV3backend's Auth*).

The server applies each proposal as the user its header names (``applying``); the
guarded table checks that user's permissions against the state at that point of the
log, before the request is applied: puts, deletes, every operation and compare of a
transaction, the keys of a lease being revoked or attached to, root for the auth
administration requests (a user may get itself and its own roles).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from etcd3py._proto import rpc_pb2

from ..auth.caller import AuthInfo
from ..auth.request import InternalAuthenticate
from ..auth.store import AuthStore
from ..errors import ServerError
from ..lease.lessor import Lessor
from ..mvcc.store import Store
from .applier import ApplyTable, Response

_R = TypeVar("_R", bound=Response)

# The requests only root may make (etcd's needAdminPermission)
_ADMIN_ONLY = (
    rpc_pb2.AuthEnableRequest,
    rpc_pb2.AuthDisableRequest,
    rpc_pb2.AuthStatusRequest,
    rpc_pb2.AuthUserAddRequest,
    rpc_pb2.AuthUserDeleteRequest,
    rpc_pb2.AuthUserChangePasswordRequest,
    rpc_pb2.AuthUserGrantRoleRequest,
    rpc_pb2.AuthUserRevokeRoleRequest,
    rpc_pb2.AuthRoleAddRequest,
    rpc_pb2.AuthRoleGrantPermissionRequest,
    rpc_pb2.AuthRoleRevokePermissionRequest,
    rpc_pb2.AuthRoleDeleteRequest,
    rpc_pb2.AuthUserListRequest,
    rpc_pb2.AuthRoleListRequest,
)


def check_txn(auth: AuthStore, who: AuthInfo | None, r: rpc_pb2.TxnRequest) -> None:
    """A transaction's permissions: read on every compare, then each branch's operations
    (its top level only, as etcd checks it)."""
    for c in r.compare:
        auth.check_range(who, c.key, c.range_end)
    for op in (*r.success, *r.failure):
        kind = op.WhichOneof("request")
        if kind == "request_range":
            auth.check_range(who, op.request_range.key, op.request_range.range_end)
        elif kind == "request_put":
            auth.check_put(who, op.request_put.key)
        elif kind == "request_delete_range":
            d = op.request_delete_range
            if d.prev_kv:
                auth.check_range(who, d.key, d.range_end)
            auth.check_delete(who, d.key, d.range_end)


class AuthApplier:
    """Applies the auth requests, and guards an apply table with permission checks."""

    def __init__(
        self, auth: AuthStore, store: Store, lessor: Lessor, applied_index: Callable[[], int]
    ) -> None:
        self.auth = auth
        self._store = store
        self._lessor = lessor
        self._applied_index = applied_index
        self.who: AuthInfo | None = None  # the user of the proposal being applied

    def applying(self, apply: Callable[[Any], Response], p: Any, who: AuthInfo | None) -> Response:
        """Apply ``p`` with ``apply`` as the user ``who``."""
        if not self.auth.enabled:
            return apply(p)  # nothing to check (the guards let everything pass)
        self.who = who
        try:
            if isinstance(p, _ADMIN_ONLY):
                self.auth.check_admin(who)
            return apply(p)
        finally:
            self.who = None

    # ---- the guard ----

    def guard(self, table: ApplyTable) -> ApplyTable:
        """``table`` with the permission checks in front of the requests that need them."""
        put, delete = table[rpc_pb2.PutRequest], table[rpc_pb2.DeleteRangeRequest]
        txn, revoke = table[rpc_pb2.TxnRequest], table[rpc_pb2.LeaseRevokeRequest]
        auth = self.auth

        def guarded_put(r: rpc_pb2.PutRequest) -> Response:
            auth.check_put(self.who, r.key)
            self._check_lease_keys(r.lease)
            if r.prev_kv:
                auth.check_range(self.who, r.key, b"")
            return put(r)

        def guarded_delete(r: rpc_pb2.DeleteRangeRequest) -> Response:
            auth.check_delete(self.who, r.key, r.range_end)
            if r.prev_kv:
                auth.check_range(self.who, r.key, r.range_end)
            return delete(r)

        def guarded_txn(r: rpc_pb2.TxnRequest) -> Response:
            check_txn(auth, self.who, r)
            return txn(r)

        def guarded_revoke(r: rpc_pb2.LeaseRevokeRequest) -> Response:
            self._check_lease_keys(r.ID)
            return revoke(r)

        def guarded_user_get(r: rpc_pb2.AuthUserGetRequest) -> Response:
            if r.name != (self.who.username if self.who else ""):
                auth.check_admin(self.who)
            return table[rpc_pb2.AuthUserGetRequest](r)

        def guarded_role_get(r: rpc_pb2.AuthRoleGetRequest) -> Response:
            try:
                auth.check_admin(self.who)
            except ServerError:
                if not auth.has_role(self.who.username if self.who else "", r.role):
                    raise
            return table[rpc_pb2.AuthRoleGetRequest](r)

        return {
            **table,
            rpc_pb2.PutRequest: guarded_put,
            rpc_pb2.DeleteRangeRequest: guarded_delete,
            rpc_pb2.TxnRequest: guarded_txn,
            rpc_pb2.LeaseRevokeRequest: guarded_revoke,
            rpc_pb2.AuthUserGetRequest: guarded_user_get,
            rpc_pb2.AuthRoleGetRequest: guarded_role_get,
        }

    def _check_lease_keys(self, lease_id: int) -> None:
        """Write permission on every key of the lease (etcd's checkLeasePuts)."""
        if not self.auth.enabled:
            return  # (not one check per key of the lease for nothing)
        lease = self._lessor.lookup(lease_id) if lease_id else None
        if lease is not None:
            for key in lease.keys:
                self.auth.check_put(self.who, key)

    # ---- the auth requests ----

    def table(self) -> ApplyTable:
        """The auth requests, by type: each answers with the key space's revision."""
        a = self.auth
        R = rpc_pb2

        def answer(resp: _R) -> _R:
            resp.header.revision = self._store.rev
            return resp

        def changing(change: Callable[[Any], None], response: type) -> Callable[[Any], Any]:
            def apply(r: Any) -> Any:
                change(r)
                return answer(response())

            return apply

        def status(r: R.AuthStatusRequest) -> R.AuthStatusResponse:
            return answer(R.AuthStatusResponse(enabled=a.enabled, authRevision=a.revision))

        def authenticate(r: InternalAuthenticate) -> R.AuthenticateResponse:
            token = a.apply_authenticate(r.name, r.simple_token, self._applied_index())
            return answer(R.AuthenticateResponse(token=token))

        return {
            R.AuthEnableRequest: changing(lambda r: a.apply_enable(), R.AuthEnableResponse),
            R.AuthDisableRequest: changing(lambda r: a.apply_disable(), R.AuthDisableResponse),
            R.AuthStatusRequest: status,
            InternalAuthenticate: authenticate,
            R.AuthUserAddRequest: changing(a.apply_user_add, R.AuthUserAddResponse),
            R.AuthUserDeleteRequest: changing(a.apply_user_delete, R.AuthUserDeleteResponse),
            R.AuthUserChangePasswordRequest: changing(
                a.apply_user_change_password, R.AuthUserChangePasswordResponse
            ),
            R.AuthUserGrantRoleRequest: changing(
                a.apply_user_grant_role, R.AuthUserGrantRoleResponse
            ),
            R.AuthUserRevokeRoleRequest: changing(
                a.apply_user_revoke_role, R.AuthUserRevokeRoleResponse
            ),
            R.AuthUserGetRequest: lambda r: answer(R.AuthUserGetResponse(roles=a.user_get(r.name))),
            R.AuthUserListRequest: lambda r: answer(R.AuthUserListResponse(users=a.user_list())),
            R.AuthRoleListRequest: lambda r: answer(R.AuthRoleListResponse(roles=a.role_list())),
            R.AuthRoleAddRequest: changing(a.apply_role_add, R.AuthRoleAddResponse),
            R.AuthRoleDeleteRequest: changing(a.apply_role_delete, R.AuthRoleDeleteResponse),
            R.AuthRoleGetRequest: lambda r: answer(R.AuthRoleGetResponse(perm=a.role_get(r.role))),
            R.AuthRoleGrantPermissionRequest: changing(
                a.apply_role_grant_permission, R.AuthRoleGrantPermissionResponse
            ),
            R.AuthRoleRevokePermissionRequest: changing(
                a.apply_role_revoke_permission, R.AuthRoleRevokePermissionResponse
            ),
        }
