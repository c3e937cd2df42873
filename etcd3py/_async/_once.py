"""put_once and txn_once: a write repeated until its outcome is known, applied once.

The request (see ``etcd3py/_once.py``) is guarded by a marker key, so sending it again
after a failure of unknown outcome cannot apply the write twice: ``write`` repeats it,
after a short pause, until an answer arrives or the deadline passes. The markers of a
client share one lease, granted when first needed and again when it gets too short to
outlive a call, so a write costs one request when nothing fails.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from .. import _check
from .._once import MARKER_MARGIN, MARKER_TTL, OnceResult, guarded, marker_key, result
from .._retry import Backoff
from .._txn import Compare, Operation, txn_request
from ..errors import EtcdError, LeaseNotFoundError
from ._primitives import AsyncLock, sleep

if TYPE_CHECKING:
    from ._client import AsyncClient

log = logging.getLogger("etcd3py")


class AsyncOnceWriter:
    """The write-once loop of one client, and the lease its markers live on."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._lock = AsyncLock()
        self._lease_id = 0
        self._lease_ends = 0.0  # monotonic time by which the lease is surely gone

    async def write(
        self,
        compare: list[Compare] | tuple[Compare, ...],
        success: list[Operation] | tuple[Operation, ...],
        failure: list[Operation] | tuple[Operation, ...],
        timeout: float | None,
        attempt_timeout: float | None,
    ) -> OnceResult:
        """Apply the transaction exactly once, repeating it while its outcome is unknown.

        Each request gets ``attempt_timeout`` seconds (the client's timeout by default);
        the whole, ``timeout`` (three times that by default). When the deadline passes
        with the outcome still unknown, the last error is raised (``outcome_unknown``).
        """
        txn_request(compare, success, failure)  # refuse bad arguments before sending
        each = self._client.config.timeout if attempt_timeout is None else attempt_timeout
        each = _check.seconds(each, "attempt_timeout")
        total = 3 * each if timeout is None else _check.seconds(timeout, "timeout")
        deadline = time.monotonic() + total
        marker = marker_key()
        lease_id = await self._lease(deadline, each)
        backoff, attempts = Backoff(deadline), 0
        while True:
            attempts += 1
            request = guarded(marker, lease_id, compare, success, failure)
            left = deadline - time.monotonic()
            try:
                answer = await self._client.txn(*request, timeout=max(0.001, min(each, left)))
            except LeaseNotFoundError as err:
                if attempts > 1:  # a marker an earlier attempt may have made went with it
                    err.outcome_unknown = True
                    raise
                self._lease_id = 0  # revoked by someone: the write was refused, not applied
                lease_id = await self._lease(deadline, each)
                continue
            except EtcdError as err:
                pause = backoff.next() if err.outcome_unknown else None
                if pause is None:
                    raise
                log.info(
                    "write of unknown outcome (%s): repeating it, its marker makes it safe", err
                )
                await sleep(pause)
                continue
            return result(answer, attempts)

    async def _lease(self, deadline: float, timeout: float) -> int:
        """A lease that outlives ``deadline`` by a margin (granted when none does)."""
        async with self._lock:
            if self._lease_id and self._lease_ends > deadline + MARKER_MARGIN:
                return self._lease_id
            ttl = max(MARKER_TTL, math.ceil(deadline - time.monotonic()) + 2 * MARKER_MARGIN)
            asked = time.monotonic()
            lease = await self._client.grant(ttl, timeout=timeout)
            self._lease_id, self._lease_ends = lease.id, asked + lease.ttl
            return self._lease_id
