"""Which failed calls may be repeated, and how long to wait before trying again.

The rule that keeps writes at-most-once: a write is repeated only when gRPC says the
request never left the client (no connection could be made, the name did not
resolve). Any other failure of a write -- a reset connection, a server-side timeout
-- may hide an applied write, so it is raised, typed, for the caller to decide.
Reads and other side-effect-free calls are repeated on any UNAVAILABLE failure,
on another endpoint.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import grpc
from tenacity import RetryCallState

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


FIRST_PAUSE, MOST_PAUSE = 0.025, 1.0  # seconds: the backoff's first step and its cap


def jittered_pause(attempt: int, most: float = MOST_PAUSE) -> float:
    """The pause before repeat number ``attempt`` (1: the first): uniformly random up
    to a step that doubles from 25 ms to ``most`` ("full jitter": clients that failed
    together do not come back together). The one backoff rule of the project."""
    return random.uniform(0.0, min(most, FIRST_PAUSE * 2 ** (attempt - 1)))


def pause_before(deadline: float | None) -> Callable[[RetryCallState], float]:
    """tenacity's wait between attempts: ``jittered_pause``, never past ``deadline``
    (time.monotonic(); None: none)."""

    def wait(state: RetryCallState) -> float:
        wanted = jittered_pause(state.attempt_number)
        if deadline is None:
            return wanted
        return max(0.0, min(wanted, deadline - time.monotonic()))

    return wait


class Backoff:
    """The pauses of a loop that repeats one step until it works (a relist, a
    re-registration, a write whose outcome is unknown): ``jittered_pause`` in turn."""

    def __init__(self, deadline: float | None = None, most: float = MOST_PAUSE) -> None:
        self._deadline = deadline
        self._most = most
        self._attempt = 0

    def next(self) -> float | None:
        """The next pause; None when it would reach the deadline, leaving no time for
        another try after it."""
        self._attempt += 1
        pause = jittered_pause(self._attempt, self._most)
        if self._deadline is not None and time.monotonic() + pause >= self._deadline:
            return None
        return pause

    def pause(self) -> float:
        """The next pause of a loop that has no deadline."""
        pause = self.next()
        if pause is None:
            raise RuntimeError("Backoff.pause() is for loops without a deadline")
        return pause
