"""The ordering guard of ``Client(..., ordering=True)``: reads never go back in time.

A serializable read is answered by whichever member the client asks, from its own
state; a member that lags behind (partitioned, slow, just restarted) answers with an
older revision than the client may already have seen, and the application would see
time go backwards. The guard keeps the highest revision of every KV answer (reads and
writes) and refuses a read answered below the value it had when the read began: the
transport asks again on another endpoint, and raises StaleReadError when no answer
within the deadline was current enough. The rule is Go's ``client/v3/ordering``.
"""

from __future__ import annotations

import threading

from . import _methods as M
from .errors import StaleReadError

CHECKED = (M.RANGE, M.TXN_READ)  # the calls a lagging member may answer from the past
KV_SERVICE = M.RANGE.service


class RevisionFloor:
    """The highest revision this client has seen in a KV answer."""

    __slots__ = ("_lock", "revision")

    def __init__(self) -> None:
        self.revision = 0
        self._lock = threading.Lock()  # the sync face's threads share one client

    def raise_to(self, revision: int) -> None:
        if revision > self.revision:
            with self._lock:
                self.revision = max(self.revision, revision)


def stale(seen: int, read: int, endpoints: list[str], operation: str) -> StaleReadError:
    """The error for a read that found no member at revision ``seen`` or later."""
    return StaleReadError(
        f"no member answered at revision {seen} or later (the newest answer was at {read}): "
        "returning it would go back in time",
        seen=seen,
        read=read,
        endpoints=endpoints,
        operation=operation,
    )
