"""Session: a lease kept alive for as long as the session lasts.

Keys written with the session's lease are ephemeral: they vanish when the session is
closed, and when its process dies (the lease expires within its TTL). Mutexes,
elections, semaphores and registrations hang their keys on a session, so losing
the session must stop whatever waits or holds on its behalf: the session
interrupts the watches registered with it, with LeaseLostError.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from etcd3py import ArgumentTypeError, AsyncClient, AsyncLease, AsyncWatch, LeaseLostError, _check
from etcd3py._async._primitives import AsyncLock

log = logging.getLogger("etcd3py.recipes")

DEFAULT_TTL = 60  # seconds, as etcd's concurrency package


class AsyncSession:
    """A kept-alive lease: ``async with AsyncSession(client, ttl=10) as session``."""

    def __init__(self, client: AsyncClient, ttl: int = DEFAULT_TTL) -> None:
        if not isinstance(client, AsyncClient):
            raise ArgumentTypeError("client", client, "an AsyncClient")
        self.client = client
        self.ttl = _check.ttl(ttl)
        self._lease: AsyncLease | None = None
        self._callbacks: list[Callable[[AsyncSession], Any]] = []
        self._guarded: set[AsyncWatch] = set()
        self._starting = AsyncLock()

    def __repr__(self) -> str:
        state = "not started" if self._lease is None else repr(self._lease)
        return f"<Session {state}>"

    async def start(self) -> AsyncSession:
        """Grant the lease and keep it alive (once, however many callers ask at once)."""
        if self._lease is None:
            async with self._starting:
                if self._lease is None:
                    lease = await self.client.grant(self.ttl)
                    self._lease = lease
                    lease.on_lost(self._on_lease_lost)
                    self.client.keep_alive(lease)
        return self

    @property
    def lease(self) -> AsyncLease:
        """The session's lease (RuntimeError before ``start``)."""
        if self._lease is None:
            raise RuntimeError("the session has not started (use start() or async with)")
        return self._lease

    @property
    def lease_id(self) -> int:
        """The id of the session's lease: recipes write their keys with it."""
        return self.lease.id

    @property
    def lost(self) -> bool:
        """True once the lease is lost: every key written with it is gone."""
        return self._lease is not None and self._lease.lost

    @property
    def lost_reason(self) -> str | None:
        """Why the lease was lost, or None."""
        return None if self._lease is None else self._lease.lost_reason

    def check_alive(self) -> None:
        """Raise LeaseLostError when the session's lease is gone."""
        self.lease.check_alive()

    def on_lost(self, callback: Callable[[AsyncSession], Any]) -> None:
        """Call ``callback(session)`` when the lease is lost (not when closed)."""
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        if self.lost:
            callback(self)
        else:
            self._callbacks.append(callback)

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Wait until the session's lease is lost; False when ``timeout`` passed first."""
        return await self.lease.wait_lost(timeout)

    @contextlib.contextmanager
    def guard(self, watch: AsyncWatch) -> Any:
        """Interrupt ``watch`` with LeaseLostError if the session is lost meanwhile."""
        if not isinstance(watch, AsyncWatch):
            raise ArgumentTypeError("watch", watch, "an AsyncWatch")
        self.check_alive()
        self._guarded.add(watch)
        try:
            yield watch
        finally:
            self._guarded.discard(watch)

    def _on_lease_lost(self, lease: AsyncLease) -> None:
        error = LeaseLostError(lease.id, lease.lost_reason or "lost")
        for watch in list(self._guarded):
            watch.interrupt(error)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("session-lost callback %r failed", callback)

    async def close(self) -> None:
        """Revoke the lease: every key written with it goes."""
        lease = self._lease
        if lease is not None and not lease.lost:
            await lease.revoke()

    async def __aenter__(self) -> AsyncSession:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncSessionSource:
    """Where a recipe gets its session: the caller's, or one of its own.

    A session of the recipe's own is revoked when the recipe is done with it and made
    again after a loss; a given session is the caller's to end.
    """

    def __init__(self, client_or_session: AsyncClient | AsyncSession, ttl: int) -> None:
        if isinstance(client_or_session, AsyncSession):
            self.given: AsyncSession | None = client_or_session
            self.client = client_or_session.client
        elif isinstance(client_or_session, AsyncClient):
            self.given = None
            self.client = client_or_session
        else:
            raise ArgumentTypeError(
                "client_or_session", client_or_session, "an AsyncClient or an AsyncSession"
            )
        self._ttl = _check.ttl(ttl)
        self.current: AsyncSession | None = self.given

    @property
    def alive(self) -> bool:
        """A session was started and is not lost."""
        return self.current is not None and not self.current.lost

    async def start(self) -> AsyncSession:
        """The given session, or our own: started, and new if the last one was lost."""
        if self.current is None or (self.given is None and self.current.lost):
            self.current = AsyncSession(self.client, self._ttl)
        return await self.current.start()

    async def end(self) -> None:
        """Revoke a session of our own (the next start makes a new one)."""
        session = self.current
        if self.given is None and session is not None:
            self.current = None
            await session.close()
