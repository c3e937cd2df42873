"""The log step of the write path, and answers that may have to wait for it.

``EtcdServer.propose`` hands every proposal to its ``Log`` before applying it. The
log says whether the entry is durable at once (in memory, ``NullLog``: then the
server applies and answers at once, atomically on the event loop), or tells the
server later which entries became durable (a WAL, after the fsync that covers
them): the server then applies them, in log order, and answers each. A proposal is
never applied before it is durable, so no read, watch or answer ever shows a write
that a crash could take back -- as etcd applies only committed entries.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Protocol, TypeVar, Union

from ..auth.caller import AuthInfo
from .proposal import Proposal

_T = TypeVar("_T")

# Union, not "|": a generic "|" alias cannot be subscripted before Python 3.11.
Answer = Union[_T, Awaitable[_T]]  # noqa: UP007
"""A response now, or an awaitable of it (a write waiting for its log entry)."""


class Log(Protocol):
    def append(self, index: int, proposal: Proposal, who: AuthInfo | None) -> bool:
        """Record ``proposal``, made by ``who``, as entry ``index`` (called in index
        order). True when it
        is durable already (the server applies it at once); False when the log will
        tell the server later, by ``EtcdServer.durable(up_to)`` or ``log_failed``."""


class NullLog:
    """No log: server_ref keeps its state in memory only."""

    def append(self, index: int, proposal: Proposal, who: AuthInfo | None) -> bool:
        return True


async def settled(answer: Answer[_T]) -> _T:
    """The response of ``answer``, waiting if it must."""
    if inspect.isawaitable(answer):
        return await answer
    return answer
