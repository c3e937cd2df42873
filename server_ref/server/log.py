"""The log step of the write path, and answers that may have to wait for it.

``EtcdServer.propose`` hands every proposal to its ``Log`` before applying it. The
log says whether the entry is durable at once (None) or when it will be (an
awaitable, e.g. done by the fsync that covers it). The server applies proposals in
log order at once, on the event loop, and answers each when its entry is durable:
so a WAL can make writes wait without changing what they do or in which order.
In memory, ``NullLog`` records nothing and every entry is durable at once.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import NoReturn, Protocol, TypeVar, Union

from .proposal import Proposal

_T = TypeVar("_T")

# Union, not "|": a generic "|" alias cannot be subscripted before Python 3.11.
Answer = Union[_T, Awaitable[_T]]  # noqa: UP007
"""A response now, or an awaitable of it (a write waiting for its log entry)."""


class Log(Protocol):
    def append(self, index: int, proposal: Proposal) -> Awaitable[None] | None:
        """Record ``proposal`` as entry ``index`` (called in index order, before the
        proposal is applied); None when it is durable already."""


class NullLog:
    """No log: server_ref keeps its state in memory only."""

    def append(self, index: int, proposal: Proposal) -> None:
        return None


async def when_durable(durable: Awaitable[None], response: _T) -> _T:
    await durable
    return response


async def fail_when_durable(durable: Awaitable[None], error: Exception) -> NoReturn:
    await durable
    raise error


async def settled(answer: Answer[_T]) -> _T:
    """The response of ``answer``, waiting if it must."""
    if inspect.isawaitable(answer):
        return await answer
    return answer
