"""Which failed calls may be repeated, and how long to wait before trying again.

The rule that keeps writes at-most-once: a write is repeated only when gRPC says the
request never left the client (no connection could be made, the name did not
resolve). Any other failure of a write -- a reset connection, a server-side timeout
-- may hide an applied write, so it is raised, typed, for the caller to decide.
Reads and other side-effect-free calls are repeated on any UNAVAILABLE failure,
on another endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from tenacity import RetryCallState, wait_random_exponential

from . import _etcd_errors as E
from ._methods import Retry

# What gRPC says when a call could not be sent at all (verified against grpcio's
# C core: refused connections, channels in TRANSIENT_FAILURE, failed name lookups).
_NEVER_SENT = (
    "failed to connect to all addresses",
    "errors resolving",
    "DNS resolution failed",
    "Connection refused",
    "no connection available",
)


def never_sent(err: grpc.RpcError) -> bool:
    """True when gRPC reports that the request never reached a server."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = err.details() or ""
    return any(marker in details for marker in _NEVER_SENT)


def _is(err: grpc.RpcError, spec: E.ErrorSpec) -> bool:
    return bool(err.code() == spec.code and err.details() == spec.message)


def is_invalid_token(err: grpc.RpcError) -> bool:
    """The token expired or is unknown; or (etcd 3.5) it predates a change to auth,
    which etcd reports in its auth store's own words: log in again either way."""
    return (
        _is(err, E.INVALID_AUTH_TOKEN)
        or _is(err, E.AUTH_OLD_REVISION)
        or _is(err, E.AUTH_INVALID_TOKEN)
    )


def is_user_empty(err: grpc.RpcError) -> bool:
    """etcd's answer to a call without a token while auth is on."""
    return _is(err, E.USER_EMPTY)


# What gRPC says when the caller itself cancelled; any other CANCELLED came from the
# server (a gRPC server shutting down cancels the calls in flight).
_LOCAL_CANCEL = "Locally cancelled by application!"


def endpoint_failed(err: grpc.RpcError) -> bool:
    """The endpoint could not serve the call: try another one (if repeating is safe)."""
    code = err.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    return code == grpc.StatusCode.CANCELLED and err.details() != _LOCAL_CANCEL


def never_applied(err: grpc.RpcError) -> bool:
    """True when the server refused the write before its log took it (etcd's raft
    dropped the proposal): repeating it cannot apply it twice."""
    return never_sent(err) or _is(err, E.PROPOSAL_DROPPED)


# What etcd's gRPC server says when a context ended inside it (code UNKNOWN).
_CONTEXT_ENDED = ("context deadline exceeded", "context canceled")


def outcome_unknown(err: grpc.RpcError) -> bool:
    """True when a write that failed this way may have been applied: it left the client
    and no answer says whether the server took it (a broken connection, a deadline that
    passed, etcd's "request timed out", a server shutting down under it). etcd's "no
    leader" is not such a failure: etcd says it only before proposing anything (its
    require-leader check)."""
    if never_applied(err) or _is(err, E.NO_LEADER):
        return False
    code = err.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return True
    if code == grpc.StatusCode.CANCELLED:
        return err.details() != _LOCAL_CANCEL
    return code == grpc.StatusCode.UNKNOWN and (err.details() or "") in _CONTEXT_ENDED


def may_retry(err: grpc.RpcError, retry: Retry) -> bool:
    """Whether repeating the call cannot apply a write twice."""
    if retry is Retry.NEVER:
        return False
    if never_applied(err):
        return True
    if retry is Retry.WRITE:
        return False
    return endpoint_failed(err)


def pause_before(deadline: float | None) -> Callable[[RetryCallState], float]:
    """tenacity's wait between attempts: exponential from 25 ms with full jitter, at
    most 1 s, and never past ``deadline`` (time.monotonic(); None: none). The one
    backoff of a repeated call, in the client and in the recipes."""
    jitter = wait_random_exponential(multiplier=0.025, max=1.0)

    def wait(state: RetryCallState) -> float:
        wanted: float = jitter(state)
        if deadline is None:
            return wanted
        return max(0.0, min(wanted, deadline - time.monotonic()))

    return wait
