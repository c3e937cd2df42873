"""Every exception etcd3py raises (all of them are also importable from ``etcd3py``).

``EtcdError`` is the root. Under it, one base class per gRPC status code
(``InvalidArgumentError``, ``UnavailableError`` ...), and under those one class per
row of etcd's error table (``CompactedError``, ``LeaseNotFoundError`` ...). An error
that etcd reports with a message we do not know still gets its code's class.
Client-side conditions have classes of their own: ``ArgumentError`` (an argument
refused before anything was sent; a ``ValueError``, and ``ArgumentTypeError`` a
``TypeError`` too), ``ConnectionFailedError`` (no endpoint could be reached),
``LeaseLostError``, ``WatchClosedError``, ``LockNotHeldError`` ...

An error from the server says which operation failed, on which key, at which
endpoint: ``put 'config/x': etcdserver: mvcc: database space exceeded (endpoint
10.0.0.1:2379)``; ``details`` keeps etcd's own text. The original ``grpc.RpcError``
is kept as ``__cause__`` (without gRPC's internal frames, so tracebacks stay short).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import grpc

from . import _etcd_errors as E

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "ArgumentError",
    "ArgumentTypeError",
    "AuthFailedError",
    "AuthNotEnabledError",
    "AuthOldRevisionError",
    "BadLeaderTransfereeError",
    "CancelledError",
    "ClientClosedError",
    "ClusterVersionUnavailableError",
    "CompactedError",
    "ConnectionFailedError",
    "CorruptError",
    "DataLossError",
    "DeadlineExceededError",
    "DoubleBarrierFullError",
    "DowngradeInProcessError",
    "DuplicateKeyError",
    "ElectionNoLeaderError",
    "ElectionNotLeaderError",
    "EmptyKeyError",
    "EtcdError",
    "EventLoopError",
    "FailedPreconditionError",
    "FutureRevisionError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidAuthMgmtError",
    "InvalidAuthTokenError",
    "InvalidDowngradeTargetVersionError",
    "KeyNotFoundError",
    "LeaderChangedError",
    "LeaderTransferTimeoutError",
    "LearnerNotReadyError",
    "LeaseExistsError",
    "LeaseLostError",
    "LeaseNotFoundError",
    "LeaseProvidedError",
    "LeaseTTLTooLargeError",
    "LockNotHeldError",
    "MemberBadURLsError",
    "MemberExistError",
    "MemberNotEnoughStartedError",
    "MemberNotFoundError",
    "MemberNotLearnerError",
    "NoInflightDowngradeError",
    "NoLeaderError",
    "NoSpaceError",
    "NotCapableError",
    "NotFoundError",
    "NotLeaderError",
    "NotSupportedForLearnerError",
    "OutOfRangeError",
    "PeerURLExistError",
    "PermissionDeniedError",
    "PermissionNotGivenError",
    "PermissionNotGrantedError",
    "ProposalDroppedError",
    "RequestCanceledError",
    "RequestTooLargeError",
    "ResourceExhaustedError",
    "RoleAlreadyExistError",
    "RoleEmptyError",
    "RoleNotFoundError",
    "RoleNotGrantedError",
    "RootRoleNotExistError",
    "RootUserNotExistError",
    "STMConflictError",
    "ServerDeadlineExceededError",
    "ServerTimeoutDueToConnectionLostError",
    "ServerTimeoutDueToLeaderFailError",
    "ServerTimeoutError",
    "StaleReadError",
    "StoppedError",
    "TooManyLearnersError",
    "TooManyOpsError",
    "TooManyRequestsError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnhealthyClusterError",
    "UnimplementedError",
    "UnknownError",
    "UserAlreadyExistError",
    "UserEmptyError",
    "UserNotFoundError",
    "ValueProvidedError",
    "WatchCanceledError",
    "WatchClosedError",
    "WrongDowngradeVersionFormatError",
]


def show_key(key: bytes | str) -> str:
    """A key as messages show it: text when it is UTF-8, else bytes; long ones cut."""
    if isinstance(key, bytes):
        try:
            key = key.decode()
        except UnicodeDecodeError:
            shown = repr(key)
            return shown if len(shown) <= 80 else shown[:77] + "..."
    shown = repr(key)
    return shown if len(shown) <= 80 else shown[:77] + "..."


class EtcdError(Exception):
    """Root of every error etcd3py raises.

    ``operation``, ``key`` and ``endpoint`` say what failed where, when known;
    ``details`` is the server's (or gRPC's) own text; ``code`` the gRPC status.

    ``outcome_unknown`` is True when a write failed after its request left the client
    (the connection broke, its deadline passed, etcd timed out): it may have been
    applied or not, and repeating it blindly may apply it twice. It is False for every
    read and for a write that was never sent or provably not applied. See
    ``put_once``/``txn_once`` for writes that can be repeated safely.
    """

    code: grpc.StatusCode | None = None
    spec: E.ErrorSpec | None = None  # the row of etcd's error table, for server errors
    outcome_unknown: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        code: grpc.StatusCode | None = None,
        operation: str | None = None,
        key: bytes | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.details = message
        self.operation = operation
        self.key = key
        self.endpoint = endpoint
        if code is not None:
            self.code = code
        self.message = self._compose()
        super().__init__(self.message)

    def _compose(self) -> str:
        text = self.details
        if self.operation:
            subject = self.operation
            if self.key is not None:
                subject = f"{subject} {show_key(self.key)}"
            text = f"{subject}: {text}" if text else subject
        if self.endpoint:
            text = f"{text} (endpoint {self.endpoint})"
        return text


# ---- one class per gRPC status code ----


class CancelledError(EtcdError):
    """The call was canceled (gRPC CANCELLED)."""

    code = grpc.StatusCode.CANCELLED


class UnknownError(EtcdError):
    """etcd answered UNKNOWN; its Lock and Election services answer their errors so."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(EtcdError, ValueError):
    """The request is malformed (gRPC INVALID_ARGUMENT).

    Raised by etcd, or by the client before sending when it can tell (bad options, bad types); also
    a ValueError.
    """

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(EtcdError, TimeoutError):
    """The call's deadline passed before an answer came (client or server side)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(EtcdError):
    """What the request names does not exist (gRPC NOT_FOUND): a lease or a member."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(EtcdError):
    """What the request creates exists already (gRPC ALREADY_EXISTS)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(EtcdError):
    """The user's roles do not allow the request (gRPC PERMISSION_DENIED).

    Auth management (users, roles, enabling auth) needs the root role.
    """

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(EtcdError):
    """The server is out of space or of room for requests (gRPC RESOURCE_EXHAUSTED)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(EtcdError):
    """The cluster's state forbids the request (gRPC FAILED_PRECONDITION).

    For example a user or role that exists already, a missing root user when enabling auth, a member
    change that is not allowed now.
    """

    code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(EtcdError):
    """The call was aborted (gRPC ABORTED)."""

    code = grpc.StatusCode.ABORTED


class OutOfRangeError(EtcdError):
    """A revision or TTL outside what the server accepts (gRPC OUT_OF_RANGE).

    The subclasses say which: CompactedError, FutureRevisionError, LeaseTTLTooLargeError.
    """

    code = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(EtcdError):
    """The server does not implement the method (gRPC UNIMPLEMENTED)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(EtcdError):
    """The server failed internally (gRPC INTERNAL)."""

    code = grpc.StatusCode.INTERNAL


class UnavailableError(EtcdError):
    """The cluster or the connection cannot serve the call now."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLossError(EtcdError):
    """Data was lost or corrupted (gRPC DATA_LOSS)."""

    code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(EtcdError):
    """The request's credentials are missing or no longer valid (gRPC UNAUTHENTICATED).

    A client created with ``username`` and ``password`` fetches a new token and repeats the call by
    itself when its token expired; this error reaches the caller only when that did not help.
    """

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[EtcdError]] = {
    cls.code: cls
    for cls in (
        CancelledError,
        UnknownError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
    if cls.code is not None
}

# ---- client-side conditions ----


class ArgumentError(InvalidArgumentError):
    """An argument was refused before anything was sent (a ``ValueError``).

    ``argument`` names it and ``value`` is what was given.
    """

    def __init__(self, argument: str, value: object, expected: str) -> None:
        self.argument = argument
        self.value = value
        super().__init__(f"{argument} must be {expected}, not {self._shown(value)}")

    @staticmethod
    def _shown(value: object) -> str:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type (a ``TypeError`` as well as an ArgumentError)."""

    @staticmethod
    def _shown(value: object) -> str:
        text = f"{type(value).__name__} {value!r}" if value is not None else "None"
        return text if len(text) <= 80 else text[:77] + "..."


class ConnectionFailedError(UnavailableError):
    """No endpoint could be reached (the request never left the client).

    ``endpoints`` lists the endpoints that were tried.
    """

    def __init__(
        self, message: str = "", *, endpoints: tuple[str, ...] | list[str] = (), **context: object
    ) -> None:
        self.endpoints = tuple(endpoints)
        super().__init__(message, **context)  # type: ignore[arg-type]

    def _compose(self) -> str:
        text = super()._compose()
        if self.endpoints and not self.endpoint:
            text = f"{text} (endpoints tried: {', '.join(self.endpoints)})"
        return text


class StaleReadError(UnavailableError):
    """A client made with ``ordering=True`` found no member current enough for a read.

    Every answer it got within the call's deadline reflected a revision below one this
    client had already seen (a member lagging behind, read with ``serializable=True``), and
    returning it would have gone back in time; Go's ordering package calls this
    ErrNoGreaterRev. ``seen`` is the revision the read had to reach, ``read`` the newest it
    got, ``endpoints`` those that answered behind.
    """

    def __init__(
        self,
        message: str = "",
        *,
        seen: int = 0,
        read: int = 0,
        endpoints: tuple[str, ...] | list[str] = (),
        **context: object,
    ) -> None:
        self.seen = seen
        self.read = read
        self.endpoints = tuple(endpoints)
        super().__init__(message, **context)  # type: ignore[arg-type]

    def _compose(self) -> str:
        text = super()._compose()
        if self.endpoints:
            text = f"{text} (endpoints behind: {', '.join(self.endpoints)})"
        return text


class ClientClosedError(EtcdError):
    """The client was closed; nothing more can be done with it."""


class EventLoopError(EtcdError, RuntimeError):
    """An AsyncClient was used from an event loop other than the one it started on.

    gRPC's asyncio channels belong to one event loop: make one AsyncClient per loop
    (per ``asyncio.run()``), or use the sync ``Client`` across threads and loops.
    """


class LeaseLostError(EtcdError):
    """A lease expired, was revoked or vanished: what it protected is gone."""

    def __init__(self, lease_id: int, reason: str) -> None:
        super().__init__(f"lease {lease_id:x} lost: {reason}")
        self.lease_id = lease_id
        self.reason = reason


class WatchClosedError(EtcdError):
    """The watch (or observer) was closed and delivers nothing more.

    Iterating a closed watch just ends; ``get()`` raises this, so that a loop of
    ``get(timeout=...)`` calls cannot mistake "closed" for "nothing yet".
    """


class LockNotHeldError(EtcdError):
    """The mutex is not held (any more) by this holder."""


class AuthOldRevisionError(EtcdError):
    """The request was made with credentials from before the last change to users, roles
    or permissions (etcd 3.5's "auth: revision in header is old": a JWT names the auth
    revision it was issued at). Nothing was applied; the client logs in again and
    repeats the call once on its own, so this reaches callers only without credentials.
    """


class ElectionNotLeaderError(EtcdError):
    """This candidate does not (any more) lead the election."""


class ElectionNoLeaderError(EtcdError):
    """The election has no leader (no candidate stands)."""


class STMConflictError(EtcdError):
    """``STM.run`` gave up: every attempt conflicted with concurrent writers."""

    def __init__(self, attempts: int, reason: str) -> None:
        super().__init__(f"the transaction did not commit in {attempts} attempts: {reason}")
        self.attempts = attempts


class DoubleBarrierFullError(EtcdError):
    """More than ``count`` participants tried to enter a DoubleBarrier."""


# ---- one class per row of etcd's error table ----

_BY_MESSAGE: dict[str, type[EtcdError]] = {}
_E = TypeVar("_E", bound=type[EtcdError])


def _row(spec: E.ErrorSpec) -> Callable[[_E], _E]:
    """Register a class as the one raised for ``spec``."""

    def register(cls: _E) -> _E:
        assert issubclass(cls, _BY_CODE[spec.code]), (cls, spec)
        cls.spec = spec
        _BY_MESSAGE[spec.message] = cls
        return cls

    return register


@_row(E.EMPTY_KEY)
class EmptyKeyError(InvalidArgumentError):
    """The request has an empty key."""


@_row(E.KEY_NOT_FOUND)
class KeyNotFoundError(InvalidArgumentError):
    """ignore_value or ignore_lease on a key that does not exist."""


@_row(E.VALUE_PROVIDED)
class ValueProvidedError(InvalidArgumentError):
    """A value was given together with ignore_value."""


@_row(E.LEASE_PROVIDED)
class LeaseProvidedError(InvalidArgumentError):
    """A lease was given together with ignore_lease."""


@_row(E.TOO_MANY_OPS)
class TooManyOpsError(InvalidArgumentError):
    """The transaction has more operations than the server allows."""


@_row(E.DUPLICATE_KEY)
class DuplicateKeyError(InvalidArgumentError):
    """The transaction writes one key twice."""


@_row(E.FUTURE_REV)
class FutureRevisionError(OutOfRangeError):
    """The revision asked for does not exist yet."""


@_row(E.NO_SPACE)
class NoSpaceError(ResourceExhaustedError):
    """The database is full (NOSPACE alarm): writes that add data are refused."""


@_row(E.LEASE_NOT_FOUND)
class LeaseNotFoundError(NotFoundError):
    """The lease does not exist (any more)."""


@_row(E.LEASE_EXIST)
class LeaseExistsError(FailedPreconditionError):
    """That lease id is taken."""


@_row(E.LEASE_TTL_TOO_LARGE)
class LeaseTTLTooLargeError(OutOfRangeError):
    """The lease TTL is above etcd's maximum."""


@_row(E.WATCH_CANCELED)
class WatchCanceledError(CancelledError):
    """The server canceled the watch stream."""


@_row(E.MEMBER_EXIST)
class MemberExistError(FailedPreconditionError):
    """The member id exists."""


@_row(E.PEER_URL_EXIST)
class PeerURLExistError(FailedPreconditionError):
    """Another member has these peer URLs."""


@_row(E.MEMBER_NOT_ENOUGH_STARTED)
class MemberNotEnoughStartedError(FailedPreconditionError):
    """Reconfiguring now would lose quorum."""


@_row(E.MEMBER_BAD_URLS)
class MemberBadURLsError(InvalidArgumentError):
    """The member URLs are invalid."""


@_row(E.MEMBER_NOT_FOUND)
class MemberNotFoundError(NotFoundError):
    """No member has that id."""


@_row(E.MEMBER_NOT_LEARNER)
class MemberNotLearnerError(FailedPreconditionError):
    """Only a learner can be promoted."""


@_row(E.LEARNER_NOT_READY)
class LearnerNotReadyError(FailedPreconditionError):
    """The learner has not caught up with the leader yet."""


@_row(E.TOO_MANY_LEARNERS)
class TooManyLearnersError(FailedPreconditionError):
    """The cluster has as many learners as it may."""


@_row(E.REQUEST_TOO_LARGE)
class RequestTooLargeError(InvalidArgumentError):
    """The request is larger than the server's --max-request-bytes."""


@_row(E.TOO_MANY_REQUESTS)
class TooManyRequestsError(ResourceExhaustedError):
    """The server has too many proposals pending."""


@_row(E.ROOT_USER_NOT_EXIST)
class RootUserNotExistError(FailedPreconditionError):
    """Enabling auth needs a root user."""


@_row(E.ROOT_ROLE_NOT_EXIST)
class RootRoleNotExistError(FailedPreconditionError):
    """The root user lacks the root role."""


@_row(E.USER_ALREADY_EXIST)
class UserAlreadyExistError(FailedPreconditionError):
    """The user exists."""


@_row(E.USER_EMPTY)
class UserEmptyError(InvalidArgumentError):
    """The user name is empty."""


@_row(E.USER_NOT_FOUND)
class UserNotFoundError(FailedPreconditionError):
    """No such user."""


@_row(E.ROLE_ALREADY_EXIST)
class RoleAlreadyExistError(FailedPreconditionError):
    """The role exists."""


@_row(E.ROLE_NOT_FOUND)
class RoleNotFoundError(FailedPreconditionError):
    """No such role."""


@_row(E.ROLE_EMPTY)
class RoleEmptyError(InvalidArgumentError):
    """The role name is empty."""


@_row(E.AUTH_FAILED)
class AuthFailedError(InvalidArgumentError):
    """Wrong user name or password."""


@_row(E.PERMISSION_NOT_GIVEN)
class PermissionNotGivenError(InvalidArgumentError):
    """No permission was given."""


@_row(E.ROLE_NOT_GRANTED)
class RoleNotGrantedError(FailedPreconditionError):
    """The user does not have that role."""


@_row(E.PERMISSION_NOT_GRANTED)
class PermissionNotGrantedError(FailedPreconditionError):
    """The role lacks that permission."""


@_row(E.AUTH_NOT_ENABLED)
class AuthNotEnabledError(FailedPreconditionError):
    """Authentication is not enabled."""


@_row(E.INVALID_AUTH_TOKEN)
class InvalidAuthTokenError(UnauthenticatedError):
    """The auth token expired or is unknown."""


@_row(E.INVALID_AUTH_MGMT)
class InvalidAuthMgmtError(InvalidArgumentError):
    """That change to auth is not allowed."""


@_row(E.NO_LEADER)
class NoLeaderError(UnavailableError):
    """The cluster has no leader."""


@_row(E.NOT_LEADER)
class NotLeaderError(FailedPreconditionError):
    """The member is not the leader."""


@_row(E.LEADER_CHANGED)
class LeaderChangedError(UnavailableError):
    """The leader changed while the request was served."""


@_row(E.NOT_CAPABLE)
class NotCapableError(UnavailableError):
    """The cluster version cannot do this."""


@_row(E.STOPPED)
class StoppedError(UnavailableError):
    """The member is stopping."""


@_row(E.TIMEOUT)
class ServerTimeoutError(UnavailableError):
    """The server timed out: the request may or may not have been applied."""


@_row(E.TIMEOUT_DUE_TO_LEADER_FAIL)
class ServerTimeoutDueToLeaderFailError(ServerTimeoutError):
    """Timed out after a leader failure: the outcome is unknown."""


@_row(E.TIMEOUT_DUE_TO_CONNECTION_LOST)
class ServerTimeoutDueToConnectionLostError(ServerTimeoutError):
    """Timed out after a lost peer connection: the outcome is unknown."""


@_row(E.PROPOSAL_DROPPED)
class ProposalDroppedError(UnknownError):
    """Raft dropped the write before logging it (a leader transfer under way): it was
    not applied, and the client repeats it."""


@_row(E.TIMEOUT_LEADER_TRANSFER)
class LeaderTransferTimeoutError(UnknownError):
    """MoveLeader: the transferee did not take over in time."""


@_row(E.UNHEALTHY)
class UnhealthyClusterError(UnavailableError):
    """Too few healthy members for this change."""


@_row(E.CORRUPT)
class CorruptError(DataLossError):
    """Data corruption was detected (CORRUPT alarm)."""


@_row(E.NOT_SUPPORTED_FOR_LEARNER)
class NotSupportedForLearnerError(UnavailableError):
    """Learners do not serve this request."""


@_row(E.BAD_LEADER_TRANSFEREE)
class BadLeaderTransfereeError(FailedPreconditionError):
    """That member cannot become the leader."""


@_row(E.CLUSTER_VERSION_UNAVAILABLE)
class ClusterVersionUnavailableError(UnavailableError):
    """The cluster version is not known yet."""


@_row(E.WRONG_DOWNGRADE_VERSION_FORMAT)
class WrongDowngradeVersionFormatError(InvalidArgumentError):
    """The downgrade version is malformed."""


@_row(E.INVALID_DOWNGRADE_TARGET_VERSION)
class InvalidDowngradeTargetVersionError(InvalidArgumentError):
    """The cluster cannot be downgraded to that version."""


@_row(E.DOWNGRADE_IN_PROCESS)
class DowngradeInProcessError(FailedPreconditionError):
    """A downgrade is running."""


@_row(E.NO_INFLIGHT_DOWNGRADE)
class NoInflightDowngradeError(FailedPreconditionError):
    """No downgrade is running."""


@_row(E.CANCELED)
class RequestCanceledError(CancelledError):
    """The server canceled the request."""


@_row(E.DEADLINE_EXCEEDED)
class ServerDeadlineExceededError(DeadlineExceededError):
    """The server's deadline for the request passed."""


@_row(E.COMPACTED)
class CompactedError(OutOfRangeError):
    """The revision asked for was compacted away.

    ``revision`` is the revision that was asked for (0 when unknown);
    ``compact_revision`` the oldest revision still kept, when the server said so (a
    watch does; a read does not, and then it is 0).
    """

    def __init__(
        self,
        message: str = E.COMPACTED.message,
        *,
        compact_revision: int = 0,
        revision: int = 0,
        **context: object,
    ) -> None:
        self.compact_revision = compact_revision
        self.revision = revision
        super().__init__(message, **context)  # type: ignore[arg-type]

    def _compose(self) -> str:
        text = super()._compose()
        said = []
        if self.revision:
            said.append(f"revision {self.revision} asked for")
        if self.compact_revision:
            said.append(f"compacted up to revision {self.compact_revision}")
        return f"{text} ({'; '.join(said)})" if said else text


# etcd's "permission denied" is its own code's class
_BY_MESSAGE[E.PERMISSION_DENIED.message] = PermissionDeniedError

# Go's gRPC server turns a context error into UNKNOWN with the context's own words
# (etcd lets them through unwrapped): they are deadlines and cancellations all the same.
# The Lock and Election services run Go's concurrency package inside etcd and pass
# its errors, and the etcd errors its internal client got, through unwrapped: UNKNOWN.
_BY_UNKNOWN_MESSAGE: dict[str, type[EtcdError]] = {
    "context deadline exceeded": DeadlineExceededError,
    "context canceled": CancelledError,
    E.ELECTION_NOT_LEADER.message: ElectionNotLeaderError,
    E.ELECTION_NO_LEADER.message: ElectionNoLeaderError,
    E.MUTEX_SESSION_EXPIRED.message: LockNotHeldError,
    E.MISSING_LEADER_KEY.message: InvalidArgumentError,
    # the auth store's own texts, which etcd 3.5.1 passes through untranslated from
    # its write path and from the Maintenance calls that need root
    E.AUTH_OLD_REVISION.message: AuthOldRevisionError,
    E.AUTH_PERMISSION_DENIED.message: PermissionDeniedError,
    E.AUTH_INVALID_TOKEN.message: InvalidAuthTokenError,
    E.AUTH_USER_EMPTY.message: UserEmptyError,
    E.AUTH_USER_NOT_FOUND.message: UserNotFoundError,
    E.NO_PASSWORD_USER.message: AuthFailedError,
}


def from_rpc_error(
    err: grpc.RpcError,
    endpoint: str | None = None,
    *,
    operation: str | None = None,
    key: bytes | None = None,
    revision: int = 0,
) -> EtcdError:
    """The typed error for a failed call; ``err`` becomes its ``__cause__``.

    ``operation``, ``key`` and ``endpoint`` go into the message; ``revision`` is
    the revision a read asked for, shown by a CompactedError.
    """
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or ""
    cls = _BY_MESSAGE.get(details)
    if cls is None or (code is not None and cls.code is not None and code != cls.code):
        cls = _BY_CODE.get(code, EtcdError) if code is not None else EtcdError
        if code == grpc.StatusCode.UNKNOWN:
            cls = _BY_UNKNOWN_MESSAGE.get(details) or _BY_MESSAGE.get(details, cls)
    message = details or (code.name if code is not None else "unknown error")
    if issubclass(cls, CompactedError):
        error: EtcdError = cls(
            message, revision=revision, code=code, operation=operation, key=key, endpoint=endpoint
        )
    else:
        error = cls(message, code=code, operation=operation, key=key, endpoint=endpoint)
    # gRPC's own frames say nothing to the user: keep the error, drop its traceback
    error.__cause__ = err.with_traceback(None)
    return error


def connection_failed(
    err: BaseException | None, operation: str, key: bytes | None, tried: list[str]
) -> ConnectionFailedError:
    """The error for a call or stream that reached no endpoint."""
    if isinstance(err, grpc.RpcError):
        reason = err.details() or err.code().name
    else:
        reason = str(err) if err is not None else "no answer"
    error = ConnectionFailedError(
        f"no endpoint could be reached: {reason}", operation=operation, key=key, endpoints=tried
    )
    if err is not None:
        error.__cause__ = err.with_traceback(None)
    return error


_GO_STATUS = re.compile(r"^rpc error: code = \w+ desc = ")


def error_for_message(message: str, default: type[EtcdError]) -> EtcdError:
    """The typed error for an etcd message that came without a gRPC status.

    Watch cancel reasons are such messages, sometimes a Go status rendered as text
    ("rpc error: code = PermissionDenied desc = etcdserver: permission denied").
    """
    text = _GO_STATUS.sub("", message)
    cls = _BY_MESSAGE.get(text) or _BY_MESSAGE.get(f"etcdserver: {text}") or default
    return cls(text)


def error_class_for(spec: E.ErrorSpec) -> type[EtcdError]:
    """The class raised for a row of etcd's error table."""
    return _BY_MESSAGE[spec.message]
