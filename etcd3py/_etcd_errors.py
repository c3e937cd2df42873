"""etcd's server error table: the (gRPC status code, message) pair of every error.

Both sides use this one table: the reference server raises exactly these pairs, and
the client maps them back to typed exceptions. The texts are etcd v3.5's, byte for
byte, because clients (etcd's own Go client included) recognise errors by message.
"""

from __future__ import annotations

from typing import NamedTuple

from grpc import StatusCode


class ErrorSpec(NamedTuple):
    """One row of etcd's error table."""

    code: StatusCode
    message: str


_I = StatusCode.INVALID_ARGUMENT
_F = StatusCode.FAILED_PRECONDITION
_U = StatusCode.UNAVAILABLE

# KV and MVCC
EMPTY_KEY = ErrorSpec(_I, "etcdserver: key is not provided")
KEY_NOT_FOUND = ErrorSpec(_I, "etcdserver: key not found")
VALUE_PROVIDED = ErrorSpec(_I, "etcdserver: value is provided")
LEASE_PROVIDED = ErrorSpec(_I, "etcdserver: lease is provided")
TOO_MANY_OPS = ErrorSpec(_I, "etcdserver: too many operations in txn request")
DUPLICATE_KEY = ErrorSpec(_I, "etcdserver: duplicate key given in txn request")
COMPACTED = ErrorSpec(
    StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"
)
FUTURE_REV = ErrorSpec(
    StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"
)
NO_SPACE = ErrorSpec(StatusCode.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded")

# Leases
LEASE_NOT_FOUND = ErrorSpec(StatusCode.NOT_FOUND, "etcdserver: requested lease not found")
LEASE_EXIST = ErrorSpec(_F, "etcdserver: lease already exists")
LEASE_TTL_TOO_LARGE = ErrorSpec(StatusCode.OUT_OF_RANGE, "etcdserver: too large lease TTL")

# Watch
WATCH_CANCELED = ErrorSpec(StatusCode.CANCELLED, "etcdserver: watch canceled")

# Membership
MEMBER_EXIST = ErrorSpec(_F, "etcdserver: member ID already exist")
PEER_URL_EXIST = ErrorSpec(_F, "etcdserver: Peer URLs already exists")
MEMBER_NOT_ENOUGH_STARTED = ErrorSpec(
    _F, "etcdserver: re-configuration failed due to not enough started members"
)
MEMBER_BAD_URLS = ErrorSpec(_I, "etcdserver: given member URLs are invalid")
MEMBER_NOT_FOUND = ErrorSpec(StatusCode.NOT_FOUND, "etcdserver: member not found")
MEMBER_NOT_LEARNER = ErrorSpec(_F, "etcdserver: can only promote a learner member")
LEARNER_NOT_READY = ErrorSpec(
    _F, "etcdserver: can only promote a learner member which is in sync with leader"
)
TOO_MANY_LEARNERS = ErrorSpec(_F, "etcdserver: too many learner members in cluster")

# Request limits
REQUEST_TOO_LARGE = ErrorSpec(_I, "etcdserver: request is too large")
TOO_MANY_REQUESTS = ErrorSpec(StatusCode.RESOURCE_EXHAUSTED, "etcdserver: too many requests")

# Auth
ROOT_USER_NOT_EXIST = ErrorSpec(_F, "etcdserver: root user does not exist")
ROOT_ROLE_NOT_EXIST = ErrorSpec(_F, "etcdserver: root user does not have root role")
USER_ALREADY_EXIST = ErrorSpec(_F, "etcdserver: user name already exists")
USER_EMPTY = ErrorSpec(_I, "etcdserver: user name is empty")
USER_NOT_FOUND = ErrorSpec(_F, "etcdserver: user name not found")
ROLE_ALREADY_EXIST = ErrorSpec(_F, "etcdserver: role name already exists")
ROLE_NOT_FOUND = ErrorSpec(_F, "etcdserver: role name not found")
ROLE_EMPTY = ErrorSpec(_I, "etcdserver: role name is empty")
AUTH_FAILED = ErrorSpec(_I, "etcdserver: authentication failed, invalid user ID or password")
PERMISSION_NOT_GIVEN = ErrorSpec(_I, "etcdserver: permission not given")
PERMISSION_DENIED = ErrorSpec(StatusCode.PERMISSION_DENIED, "etcdserver: permission denied")
ROLE_NOT_GRANTED = ErrorSpec(_F, "etcdserver: role is not granted to the user")
PERMISSION_NOT_GRANTED = ErrorSpec(_F, "etcdserver: permission is not granted to the role")
AUTH_NOT_ENABLED = ErrorSpec(_F, "etcdserver: authentication is not enabled")
INVALID_AUTH_TOKEN = ErrorSpec(StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")
INVALID_AUTH_MGMT = ErrorSpec(_I, "etcdserver: invalid auth management")

# Cluster health and leadership
NO_LEADER = ErrorSpec(_U, "etcdserver: no leader")
NOT_LEADER = ErrorSpec(_F, "etcdserver: not leader")
LEADER_CHANGED = ErrorSpec(_U, "etcdserver: leader changed")
NOT_CAPABLE = ErrorSpec(_U, "etcdserver: not capable")
STOPPED = ErrorSpec(_U, "etcdserver: server stopped")
TIMEOUT = ErrorSpec(_U, "etcdserver: request timed out")
TIMEOUT_DUE_TO_LEADER_FAIL = ErrorSpec(
    _U, "etcdserver: request timed out, possibly due to previous leader failure"
)
TIMEOUT_DUE_TO_CONNECTION_LOST = ErrorSpec(
    _U, "etcdserver: request timed out, possibly due to connection lost"
)
UNHEALTHY = ErrorSpec(_U, "etcdserver: unhealthy cluster")
CORRUPT = ErrorSpec(StatusCode.DATA_LOSS, "etcdserver: corrupt cluster")
NOT_SUPPORTED_FOR_LEARNER = ErrorSpec(_U, "etcdserver: rpc not supported for learner")
BAD_LEADER_TRANSFEREE = ErrorSpec(_F, "etcdserver: bad leader transferee")
# untranslated by etcd's gRPC layer: UNKNOWN with the server's own text
TIMEOUT_LEADER_TRANSFER = ErrorSpec(
    StatusCode.UNKNOWN, "etcdserver: request timed out, leader transfer took too long"
)
PROPOSAL_DROPPED = ErrorSpec(StatusCode.UNKNOWN, "raft proposal dropped")

# Downgrades
CLUSTER_VERSION_UNAVAILABLE = ErrorSpec(
    _U, "etcdserver: cluster version not found during downgrade"
)
WRONG_DOWNGRADE_VERSION_FORMAT = ErrorSpec(_I, "etcdserver: wrong downgrade target version format")
INVALID_DOWNGRADE_TARGET_VERSION = ErrorSpec(_I, "etcdserver: invalid downgrade target version")
DOWNGRADE_IN_PROCESS = ErrorSpec(_F, "etcdserver: cluster has a downgrade job in progress")
NO_INFLIGHT_DOWNGRADE = ErrorSpec(_F, "etcdserver: no inflight downgrade job")

# Context errors as etcd reports them
CANCELED = ErrorSpec(StatusCode.CANCELLED, "etcdserver: request canceled")
DEADLINE_EXCEEDED = ErrorSpec(StatusCode.DEADLINE_EXCEEDED, "etcdserver: context deadline exceeded")

ALL: tuple[ErrorSpec, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, ErrorSpec))

# Watch cancel reasons travel inside a WatchResponse, not as a gRPC status.
WATCH_DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"
WATCH_EMPTY_RANGE = "mvcc: watcher range is empty"
WATCH_PERMISSION_DENIED = "rpc error: code = PermissionDenied desc = etcdserver: permission denied"

# The Lock and Election services run Go's concurrency package inside etcd, whose
# errors (plain Go errors) reach the caller as UNKNOWN; so do the etcd errors of its
# internal client, with their usual text.
ELECTION_NO_LEADER = ErrorSpec(StatusCode.UNKNOWN, "election: no leader")
ELECTION_NOT_LEADER = ErrorSpec(StatusCode.UNKNOWN, "election: not leader")
MUTEX_SESSION_EXPIRED = ErrorSpec(StatusCode.UNKNOWN, "mutex: session is expired")
MISSING_LEADER_KEY = ErrorSpec(StatusCode.UNKNOWN, '"leader" field must be provided')

# Auth errors etcd 3.5.1 hands on without translating them (plain Go errors: UNKNOWN):
# the two below from its write path, and the AUTH_* ones from the Maintenance calls
# that need root (Hash, HashKV, Defragment, Snapshot), which answer the auth store's
# own texts.
AUTH_OLD_REVISION = ErrorSpec(StatusCode.UNKNOWN, "auth: revision in header is old")
NO_PASSWORD_USER = ErrorSpec(
    StatusCode.UNKNOWN, "auth: authentication failed, password was given for no password user"
)
AUTH_USER_EMPTY = ErrorSpec(StatusCode.UNKNOWN, "auth: user name is empty")
AUTH_USER_NOT_FOUND = ErrorSpec(StatusCode.UNKNOWN, "auth: user not found")
AUTH_PERMISSION_DENIED = ErrorSpec(StatusCode.UNKNOWN, "auth: permission denied")
AUTH_INVALID_TOKEN = ErrorSpec(StatusCode.UNKNOWN, "auth: invalid auth token")
