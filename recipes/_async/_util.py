"""Small helpers shared by the recipes: names, values, deadlines.

The rule for waits (the same as the client's): a wait that runs out returns the
method's "nothing yet" answer (None, [] or False); failing to reach the cluster is
ConnectionFailedError; a call's own deadline passing is DeadlineExceededError.
Inside a recipe, ``remaining(deadline)`` raises WaitTimedOut once the wait's
deadline passed, and ``timed_out`` tells that (or a call cut short by the wait's
deadline) from a real error, so each waiting method can answer "nothing yet".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from etcd3py import ArgumentError, DeadlineExceededError, UnavailableError
from etcd3py._check import wait_timeout
from etcd3py._keys import to_bytes
from etcd3py._retry import pause_before

__all__ = [
    "WaitTimedOut",
    "as_bytes",
    "deadline_after",
    "name_prefix",
    "remaining",
    "repeat_guarded",
    "timed_out",
    "within",
]

T = TypeVar("T")

log = logging.getLogger("etcd3py.recipes")

# A call given the wait's remaining time as its deadline may fail a hair before our
# own clock reads the deadline: the two are not read at the same instant.
_SLACK = 0.05


class WaitTimedOut(Exception):
    """A recipe's wait reached its deadline (never leaves the recipe)."""


def as_bytes(value: str | bytes, what: str = "value") -> bytes:
    """UTF-8 for str, as the client does; anything else refused by name."""
    return to_bytes(value, what)


def name_prefix(name: object, what: str) -> bytes:
    """``<name>/``: the prefix under which a recipe keeps its keys."""
    data = to_bytes(name, "name")  # type: ignore[arg-type]
    if not data:
        raise ArgumentError("name", name, f"a non-empty name for the {what}")
    return data + b"/"


def deadline_after(timeout: object) -> float | None:
    """The monotonic deadline of a wait of ``timeout`` seconds (checked; None: none)."""
    seconds = wait_timeout(timeout)
    return None if seconds is None else time.monotonic() + seconds


def remaining(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (None: no deadline); WaitTimedOut once passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise WaitTimedOut
    return left


def timed_out(error: BaseException, deadline: float | None) -> bool:
    """Whether ``error`` means the wait ran out, rather than that something failed."""
    if isinstance(error, WaitTimedOut):
        return True
    return (
        isinstance(error, DeadlineExceededError)
        and deadline is not None
        and time.monotonic() >= deadline - _SLACK
    )


async def within(deadline: float | None, wait: Callable[[], Awaitable[T]]) -> T | None:
    """What ``wait()`` answers, or None when the wait ran out first ("nothing yet")."""
    try:
        return await wait()
    except BaseException as error:
        if timed_out(error, deadline):
            return None
        raise


async def repeat_guarded(
    write: Callable[[], Awaitable[T]],
    deadline: float | None,
    check: Callable[[], None],
) -> T:
    """What ``write()`` answers, repeated while its outcome is unknown.

    For a write whose own compare makes a second application change nothing (a key
    named after the session's lease, created only if absent). The client never
    repeats a write that may have been applied (a connection broken after the
    request left, a server-side timeout): only the recipe knows that this one is
    safe, so it repeats it here, until it answers or the wait's deadline passes.
    ``check()`` runs before each repeat and raises to stop (the session was lost).
    """

    def unknown_outcome(error: BaseException) -> bool:
        return isinstance(error, (UnavailableError, DeadlineExceededError)) and not timed_out(
            error, deadline
        )

    def give_up(state: RetryCallState) -> bool:
        return deadline is not None and time.monotonic() >= deadline

    def before_repeat(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.info("write of unknown outcome (%s): repeating it, its compare makes that safe", error)
        check()

    retrying = AsyncRetrying(
        retry=retry_if_exception(unknown_outcome),
        stop=give_up,
        wait=pause_before(deadline),
        before_sleep=before_repeat,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await write()
    raise AssertionError("unreachable: tenacity either returns or reraises")
