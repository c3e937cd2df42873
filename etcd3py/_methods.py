"""The gRPC methods the client calls, with the retry class of each."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from ._proto import rpc_pb2, v3election_pb2, v3lock_pb2


class Retry(enum.Enum):
    """How a failed call may be repeated (see _retry.py)."""

    SAFE = "safe"  # reads and calls with no side effect worth guarding: retry when possible
    WRITE = "write"  # at most once: retry only when the request never left the client
    NEVER = "never"  # no automatic repetition at all


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: cheap dict keys
class Method:
    service: str
    name: str
    request: type[Any]
    response: type[Any]
    retry: Retry

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def span_name(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def operation(self) -> str:
        """The client method that makes this call, as error messages name it."""
        return _OPERATIONS.get(self.name) or re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


# Client methods whose name is not the snake_case of the gRPC method's
_OPERATIONS = {
    "Range": "get",
    "DeleteRange": "delete",
    "LeaseGrant": "grant",
    "LeaseRevoke": "revoke",
    "LeaseTimeToLive": "time_to_live",
    "LeaseLeases": "leases",
    "LeaseKeepAlive": "keep_alive",
    "Leader": "election_leader",
    "Alarm": "alarms",
    "Authenticate": "authenticate",
    "HashKV": "hash_kv",
}


def describe(method: Method, request: Any) -> tuple[str, bytes | None]:
    """(operation, key) naming what a failed call was doing, for its error message."""
    operation = method.operation
    for field in ("key", "name"):  # KV requests name a key; Lock/Election/auth a name
        value = getattr(request, field, None)
        if isinstance(value, bytes) and value:
            return operation, value
        if isinstance(value, str) and value:
            return f"{operation} {value!r}", None
    lease = getattr(request, "ID", 0)
    if lease and method.service == "etcdserverpb.Lease":
        return f"{operation} lease {lease:x}", None
    return operation, None


def _m(service: str, name: str, module: Any, retry: Retry, req: str = "", resp: str = "") -> Method:
    req = req or f"{name}Request"
    resp = resp or f"{name}Response"
    return Method(service, name, getattr(module, req), getattr(module, resp), retry)


_KV, _LEASE, _CLUSTER = "etcdserverpb.KV", "etcdserverpb.Lease", "etcdserverpb.Cluster"
_MAINT, _AUTH, _WATCH = "etcdserverpb.Maintenance", "etcdserverpb.Auth", "etcdserverpb.Watch"
S, W, N = Retry.SAFE, Retry.WRITE, Retry.NEVER
pb = rpc_pb2

RANGE = _m(_KV, "Range", pb, S)
PUT = _m(_KV, "Put", pb, W)
DELETE_RANGE = _m(_KV, "DeleteRange", pb, W)
TXN = _m(_KV, "Txn", pb, W)
TXN_READ = Method(_KV, "Txn", pb.TxnRequest, pb.TxnResponse, S)  # a txn made of reads only
COMPACT = _m(_KV, "Compact", pb, W, "CompactionRequest", "CompactionResponse")

WATCH = _m(_WATCH, "Watch", pb, N)

LEASE_GRANT = _m(_LEASE, "LeaseGrant", pb, S)
LEASE_REVOKE = _m(_LEASE, "LeaseRevoke", pb, S)
LEASE_KEEP_ALIVE = _m(_LEASE, "LeaseKeepAlive", pb, N)
LEASE_TIME_TO_LIVE = _m(_LEASE, "LeaseTimeToLive", pb, S)
LEASE_LEASES = _m(_LEASE, "LeaseLeases", pb, S)

MEMBER_ADD = _m(_CLUSTER, "MemberAdd", pb, W)
MEMBER_REMOVE = _m(_CLUSTER, "MemberRemove", pb, W)
MEMBER_UPDATE = _m(_CLUSTER, "MemberUpdate", pb, W)
MEMBER_LIST = _m(_CLUSTER, "MemberList", pb, S)
MEMBER_PROMOTE = _m(_CLUSTER, "MemberPromote", pb, W)

ALARM = _m(_MAINT, "Alarm", pb, W)
STATUS = _m(_MAINT, "Status", pb, S)
DEFRAGMENT = _m(_MAINT, "Defragment", pb, W)
HASH_KV = _m(_MAINT, "HashKV", pb, S)
SNAPSHOT = _m(_MAINT, "Snapshot", pb, N)
MOVE_LEADER = _m(_MAINT, "MoveLeader", pb, W)

AUTHENTICATE = _m(_AUTH, "Authenticate", pb, S)
AUTH_ENABLE = _m(_AUTH, "AuthEnable", pb, W)
AUTH_DISABLE = _m(_AUTH, "AuthDisable", pb, W)
AUTH_STATUS = _m(_AUTH, "AuthStatus", pb, S)
USER_ADD = _m(_AUTH, "UserAdd", pb, W, "AuthUserAddRequest", "AuthUserAddResponse")
USER_GET = _m(_AUTH, "UserGet", pb, S, "AuthUserGetRequest", "AuthUserGetResponse")
USER_LIST = _m(_AUTH, "UserList", pb, S, "AuthUserListRequest", "AuthUserListResponse")
USER_DELETE = _m(_AUTH, "UserDelete", pb, W, "AuthUserDeleteRequest", "AuthUserDeleteResponse")
USER_CHANGE_PASSWORD = _m(
    _AUTH,
    "UserChangePassword",
    pb,
    W,
    "AuthUserChangePasswordRequest",
    "AuthUserChangePasswordResponse",
)
USER_GRANT_ROLE = _m(
    _AUTH, "UserGrantRole", pb, W, "AuthUserGrantRoleRequest", "AuthUserGrantRoleResponse"
)
USER_REVOKE_ROLE = _m(
    _AUTH, "UserRevokeRole", pb, W, "AuthUserRevokeRoleRequest", "AuthUserRevokeRoleResponse"
)
ROLE_ADD = _m(_AUTH, "RoleAdd", pb, W, "AuthRoleAddRequest", "AuthRoleAddResponse")
ROLE_GET = _m(_AUTH, "RoleGet", pb, S, "AuthRoleGetRequest", "AuthRoleGetResponse")
ROLE_LIST = _m(_AUTH, "RoleList", pb, S, "AuthRoleListRequest", "AuthRoleListResponse")
ROLE_DELETE = _m(_AUTH, "RoleDelete", pb, W, "AuthRoleDeleteRequest", "AuthRoleDeleteResponse")
ROLE_GRANT_PERMISSION = _m(
    _AUTH,
    "RoleGrantPermission",
    pb,
    W,
    "AuthRoleGrantPermissionRequest",
    "AuthRoleGrantPermissionResponse",
)
ROLE_REVOKE_PERMISSION = _m(
    _AUTH,
    "RoleRevokePermission",
    pb,
    W,
    "AuthRoleRevokePermissionRequest",
    "AuthRoleRevokePermissionResponse",
)

# Lock and Campaign with a given lease are re-entrant in etcd (the key is <name>/<lease>:
# a repeat finds the key the first attempt made), so repeating them is safe; the
# client refuses lease 0, with which etcd would grant a new lease per attempt.
_LOCK, _ELECTION = "v3lockpb.Lock", "v3electionpb.Election"
LOCK = _m(_LOCK, "Lock", v3lock_pb2, S)
UNLOCK = _m(_LOCK, "Unlock", v3lock_pb2, S)
CAMPAIGN = _m(_ELECTION, "Campaign", v3election_pb2, S)
PROCLAIM = _m(_ELECTION, "Proclaim", v3election_pb2, W)
LEADER = _m(_ELECTION, "Leader", v3election_pb2, S, "LeaderRequest")
OBSERVE = _m(_ELECTION, "Observe", v3election_pb2, N, "LeaderRequest", "LeaderResponse")
RESIGN = _m(_ELECTION, "Resign", v3election_pb2, S)
