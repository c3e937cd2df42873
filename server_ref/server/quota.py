"""The space quota (etcd 3.5.1's backendQuota and its v3rpc quotaAlarmer).

Before a put, a transaction or a lease grant goes any further (before its request
checks, and before a read-only transaction takes the read path, as etcd's quota
servers wrap its KV and Lease servers), ``check`` compares the backend's allocated
size plus the request's cost (apply/cost.py) with the quota. A request that does
not fit is refused with NOSPACE and never proposed; the member proposes a NOSPACE
alarm for itself instead, every time, as etcd does. Once that alarm is applied, the
apply gates (apply/gates.py) refuse what adds data, whatever the size, until a
client disarms it.

The size is the allocated one (``BackendSize.size``), not the size in use, so a
compaction alone frees nothing for the quota: a defragmentation must follow.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import NoReturn

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..apply.cost import QuotaRequest, cost
from ..errors import ServerError
from ..storage.backend_size import BackendSize
from .log import Answer

DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024  # etcd's DefaultQuotaBytes, taken for 0


class SpaceQuota:
    """A member's quota on its backend size: 0 means etcd's default of 2 GiB, a
    negative quota means none (etcd's passthroughQuota)."""

    def __init__(
        self,
        quota_bytes: int,
        backend: BackendSize,
        propose: Callable[[rpc_pb2.AlarmRequest], Answer[rpc_pb2.AlarmResponse]],
        member_id: int,
    ) -> None:
        self.limit = DEFAULT_QUOTA_BYTES if quota_bytes == 0 else quota_bytes
        self._backend = backend
        self._propose = propose
        self._alarm = rpc_pb2.AlarmRequest(
            action=rpc_pb2.AlarmRequest.ACTIVATE, memberID=member_id, alarm=rpc_pb2.NOSPACE
        )

    def available(self, r: QuotaRequest) -> bool:
        return self.limit < 0 or self._backend.size + cost(r) < self.limit

    def check(self, r: QuotaRequest) -> Awaitable[NoReturn] | None:
        """Refuse ``r`` with NOSPACE, raising the alarm, when it does not fit: None when
        it fits. As etcd, the refusal comes once the alarm is applied (it then gates
        every later request), whatever the alarm proposal's own outcome: at once in
        memory, and with a log on disk as an awaitable that raises after the alarm."""
        if self.available(r):
            return None
        answer = self._propose(self._alarm)
        if inspect.isawaitable(answer):
            return _refuse_after(answer)
        raise ServerError(E.NO_SPACE)


async def _refuse_after(alarm: Awaitable[rpc_pb2.AlarmResponse]) -> NoReturn:
    with contextlib.suppress(ServerError):  # etcd ignores how its alarm proposal ends
        await alarm
    raise ServerError(E.NO_SPACE)
