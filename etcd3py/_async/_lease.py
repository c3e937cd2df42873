"""Leases, and the background work that keeps them alive.

All kept-alive leases of a client share one LeaseKeepAlive stream. Each is renewed
every TTL/3. When the stream breaks it is opened again (on another endpoint if
needed) and every lease renewed at once. A lease is declared lost -- ``lost`` set,
callbacks run, every later use raising ``LeaseLostError`` -- when etcd answers that
it does not exist (TTL 0: revoked, or expired), or when no renewal has been
confirmed for a whole TTL (counted from the request that was last confirmed, so the
client never believes in a lease that etcd may already have expired).
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .. import _check, _metrics
from .._methods import LEASE_KEEP_ALIVE, LEASE_REVOKE, LEASE_TIME_TO_LIVE
from .._proto import rpc_pb2
from .._types import LeaseInfo
from ..errors import ArgumentTypeError, LeaseLostError, LeaseNotFoundError
from ._primitives import AsyncFlag, AsyncQueue, Empty, spawn
from ._stream_keeper import AsyncStreamKeeper

GONE = "etcd does not know the lease (revoked or expired)"

if TYPE_CHECKING:
    from .._namespace import Namespace
    from ._transport import AsyncTransport

log = logging.getLogger("etcd3py")


class AsyncLease:
    """A granted lease: ``id`` and ``ttl``; ``lost`` once etcd no longer holds it."""

    def __init__(
        self,
        lease_id: int,
        ttl: int,
        transport: AsyncTransport,
        namespace: Namespace | None = None,
    ) -> None:
        self.id = lease_id
        self.ttl = ttl
        self._transport = transport
        self._namespace = namespace  # granted through a view: its keys are relative to it
        self._lost = False
        self._lost_event = AsyncFlag()  # set after the callbacks ran: waiters see them done
        self.lost_reason: str | None = None
        self._callbacks: list[Callable[[AsyncLease], Any]] = []
        # keep-alive bookkeeping (owned by the manager)
        self.expires_at = time.monotonic() + ttl  # etcd holds it at least until then
        self.next_renewal = 0.0
        # when each renewal on the current stream was sent, oldest first: etcd answers
        # a stream's requests in order, so an answer renews from its own request's time
        self.unanswered: collections.deque[float] = collections.deque()
        self._manager: AsyncKeepAliveManager | None = None

    def __repr__(self) -> str:
        state = f" lost: {self.lost_reason}" if self.lost else ""
        return f"<Lease {self.id:x} ttl={self.ttl}{state}>"

    @property
    def lost(self) -> bool:
        """True once etcd no longer holds the lease (revoked, expired, or not renewed in time).

        Not renewed in time: no renewal was confirmed for a whole TTL. From then on every use
        of the lease raises LeaseLostError; ``lost_reason`` says why.
        """
        return self._lost

    def check_alive(self) -> None:
        """Raise LeaseLostError if the lease is lost; do nothing otherwise."""
        if self.lost:
            raise LeaseLostError(self.id, self.lost_reason or "lost")

    def on_lost(self, callback: Callable[[AsyncLease], Any]) -> None:
        """Call ``callback(lease)`` when the lease is lost (at once if it already is).

        Callbacks run on the client's background task or thread: keep them short.
        """
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        if self.lost:
            _run_callback(callback, self)
        else:
            self._callbacks.append(callback)

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Wait until the lease is lost; False when ``timeout`` passed first."""
        return await self._lost_event.wait(_check.wait_timeout(timeout))

    def _mark_lost(self, reason: str) -> None:
        """Declare the lease lost: stop renewing it, log a WARNING, run the on_lost callbacks.

        ``reason`` becomes ``lost_reason``. The client calls it when etcd says the lease is
        gone or renewals stop being confirmed; it does nothing the second time.
        """
        if self._lost:
            return
        self.lost_reason = reason
        self._lost = True
        _metrics.lease_lost("expired" if reason == GONE else "unconfirmed")
        if self._manager is not None:
            self._manager.remove(self)
        log.warning("etcd lease %x lost: %s", self.id, reason)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _run_callback(callback, self)
        self._lost_event.set()

    async def refresh(self, timeout: float | None = None) -> int:
        """Renew the lease once, now; return its TTL. Raises LeaseLostError if it is gone."""
        wait = _check.call_timeout(timeout) or self._transport.config.timeout
        self.check_alive()
        conn, stream = await self._transport.open_stream(LEASE_KEEP_ALIVE)
        try:
            sent = time.monotonic()
            await stream.send(rpc_pb2.LeaseKeepAliveRequest(ID=self.id))
            response = await _recv_within(stream, wait)
        except Exception:
            await self._transport.stream_failed(conn, None)
            raise
        finally:
            stream.cancel()
        if response is None or response.TTL <= 0:
            self._mark_lost(GONE)
            self.check_alive()
        self.expires_at = max(self.expires_at, sent + response.TTL)
        return int(response.TTL)

    async def revoke(self, timeout: float | None = None) -> None:
        """Revoke the lease: etcd deletes every key attached to it."""
        if self._manager is not None:
            self._manager.remove(self)
        with contextlib.suppress(LeaseNotFoundError):  # already gone is what we want
            await self._transport.call(
                LEASE_REVOKE, rpc_pb2.LeaseRevokeRequest(ID=self.id), timeout
            )
        self.lost_reason = "revoked"
        self._lost = True
        self._lost_event.set()

    async def time_to_live(self, keys: bool = False, timeout: float | None = None) -> LeaseInfo:
        """The lease's remaining and granted TTL, and with ``keys=True`` its keys.

        Raises LeaseLostError (and marks the lease lost) when etcd no longer knows it.
        """
        self.check_alive()
        response = await self._transport.call(
            LEASE_TIME_TO_LIVE, rpc_pb2.LeaseTimeToLiveRequest(ID=self.id, keys=keys), timeout
        )
        if response.TTL < 0:
            self._mark_lost(GONE)
            self.check_alive()
        if self._namespace is not None:
            self._namespace.inbound(LEASE_TIME_TO_LIVE, response)
        return LeaseInfo(response)

    async def __aenter__(self) -> AsyncLease:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.lost:
            await self.revoke()


def _run_callback(callback: Callable[[Any], Any], lease: Any) -> None:
    try:
        callback(lease)
    except Exception:
        log.exception("lease-lost callback %r failed", callback)


async def _recv_within(stream: Any, timeout: float) -> Any:
    """One response from a keep-alive stream, or None when it ended or timed out."""
    box: AsyncQueue[Any] = AsyncQueue()

    async def read() -> None:
        try:
            box.put_nowait(await stream.recv())
        except BaseException as err:
            box.put_nowait(err)

    reader = spawn(read, name="etcd3py-lease-refresh")
    try:
        item = await box.get(timeout)
    except Empty:
        return None
    finally:
        reader.cancel()
    if isinstance(item, BaseException):
        raise item
    return item


class AsyncKeepAliveManager(AsyncStreamKeeper):
    """Keeps a client's leases alive over one shared LeaseKeepAlive stream.

    Two heaps order the work: the next renewal of each lease, and the moment each
    would be lost without news. A wake-up costs O(log n) per lease it serves, so a
    thousand leases cost no more than a thousand renewals. Renewals due within
    ``_BATCH`` seconds go out together. The heaps are touched by the manager's own
    loop only; leases added by callers wait in ``_added`` until it takes them.
    """

    _BATCH = 0.05

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(transport, LEASE_KEEP_ALIVE, "etcd3py-keepalive")
        self._leases: dict[int, AsyncLease] = {}
        self._added: list[AsyncLease] = []
        self._renewals: list[tuple[float, int]] = []  # (next renewal, lease id)
        self._expiries: list[tuple[float, int]] = []  # (lost if no news by then, lease id)

    def add(self, lease: AsyncLease) -> None:
        lease.check_alive()
        self._transport.check_open()
        lease._manager = self
        lease.next_renewal = time.monotonic() + lease.ttl / 3
        self._leases[lease.id] = lease
        self._added.append(lease)
        self._ensure_running()

    def remove(self, lease: AsyncLease) -> None:
        if self._leases.get(lease.id) is lease:
            del self._leases[lease.id]  # its heap entries are skipped when they come up
            lease._manager = None
            self._wake.set()

    @property
    def kept(self) -> list[AsyncLease]:
        return list(self._leases.values())

    def _has_work(self) -> bool:
        return bool(self._leases)

    def _take_added(self) -> None:
        added, self._added = self._added, []
        for lease in added:
            heapq.heappush(self._renewals, (lease.next_renewal, lease.id))
            heapq.heappush(self._expiries, (lease.expires_at, lease.id))

    def _on_open(self) -> None:
        self._take_added()
        # a new stream: renew everything now (a broken stream's requests are not answered)
        for lease in self._leases.values():
            lease.next_renewal = 0.0
            lease.unanswered.clear()
        self._renewals = [(0.0, lease_id) for lease_id in self._leases]

    def _on_stream_down(self) -> None:
        self._take_added()
        self._expire_overdue()

    async def _work(self) -> None:
        self._take_added()
        now = time.monotonic()
        horizon = now + self._BATCH
        renewals = self._renewals
        while renewals and renewals[0][0] <= horizon and self._stream is not None:
            due, lease_id = heapq.heappop(renewals)
            lease = self._leases.get(lease_id)
            if lease is None or lease.next_renewal != due:
                continue  # removed, or rescheduled since
            lease.unanswered.append(now)
            lease.next_renewal = now + max(lease.ttl / 3, 0.5)
            heapq.heappush(renewals, (lease.next_renewal, lease_id))
            await self._stream.send(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
        self._expire_overdue()

    def _expire_overdue(self) -> None:
        now = time.monotonic()
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, lease_id = heapq.heappop(expiries)
            lease = self._leases.get(lease_id)
            if lease is None:
                continue
            if lease.expires_at > now:  # renewed since: look again then
                heapq.heappush(expiries, (lease.expires_at, lease_id))
                continue
            lease._mark_lost(
                f"no keep-alive confirmed within its {lease.ttl}s TTL (etcd unreachable)"
            )

    async def _idle(self) -> None:
        self._take_added()
        if not self._leases or self._broken.is_set():
            return
        soonest = min(
            self._renewals[0][0] if self._renewals else float("inf"),
            self._expiries[0][0] if self._expiries else float("inf"),
        )
        await self._wake.wait(max(0.0, soonest - time.monotonic()))

    def _on_response(self, response: rpc_pb2.LeaseKeepAliveResponse) -> None:
        lease = self._leases.get(response.ID)
        if lease is None:
            return
        if response.TTL <= 0:
            lease._mark_lost(GONE)
            return
        # etcd renewed it no earlier than the answered request left: count from there
        # (not from the latest request, whose answer may never come)
        if lease.unanswered:
            sent = lease.unanswered.popleft()
            lease.expires_at = max(lease.expires_at, sent + response.TTL)
            _metrics.keepalive_answered(time.monotonic() - sent)

    async def close(self) -> None:
        await self._stop()
