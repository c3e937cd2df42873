"""A key of ours under a session's lease: what every lock-like recipe holds.

Mutex, RWMutex and Semaphore all put a key under a session's lease and hold it
from acquire to release; this is the part they share: sessions (given, or one of
its own per acquisition), ``held``, ``key``, the fencing ``revision``, the
``is_owner()`` guard, and a release that says when the hold was lost.
"""

from __future__ import annotations

import contextlib
from types import TracebackType

from etcd3py import AsyncClient, Compare, CreateRevision, Delete, LeaseLostError, LockNotHeldError

from ._session import AsyncSession, AsyncSessionSource


class _Hold:
    """A key of ours under a session's lease, held from acquire to release.

    Given a client, each acquisition gets a session of ``ttl`` seconds of its own
    (revoked at release); given a session, the key hangs on it.
    """

    _what = "lock"

    def __init__(self, client_or_session: AsyncClient | AsyncSession, ttl: int) -> None:
        self._sessions = AsyncSessionSource(client_or_session, ttl)
        self._client = self._sessions.client
        self._key: bytes | None = None
        self._revision = 0

    @property
    def session(self) -> AsyncSession | None:
        """The session holding (or last holding) the key."""
        return self._sessions.current

    @property
    def held(self) -> bool:
        """True between acquire and release, unless the session was lost meanwhile."""
        return self._key is not None and self._sessions.alive

    @property
    def key(self) -> bytes:
        """The key that holds it (while held)."""
        self._check_held()
        assert self._key is not None
        return self._key

    @property
    def revision(self) -> int:
        """The key's create revision: a fencing token, increasing per holder."""
        self._check_held()
        return self._revision

    def is_owner(self) -> Compare:
        """A txn comparison that holds only while this hold still stands."""
        self._check_held()
        assert self._key is not None
        return CreateRevision(self._key) == self._revision

    def _check_held(self) -> None:
        session = self._sessions.current
        if self._key is None or session is None:
            raise LockNotHeldError(f"the {self._what} is not held")
        if session.lost:
            raise LockNotHeldError(
                f"the {self._what} was lost with its session: {session.lost_reason}"
            )

    async def _confirm(self) -> None:
        """After a wait: is my key still there? (Its session may have gone meanwhile.)"""
        session = self._sessions.current
        assert self._key is not None and session is not None
        mine = await self._client.get(self._key)
        if not mine.kvs or mine.kvs[0].create_revision != self._revision:
            raise LeaseLostError(session.lease_id, "the session's key vanished")

    async def release(self) -> None:
        """Give it up (its key goes); nothing to do when not held.

        Raises LockNotHeldError when the key had already gone (the session was
        lost while held): whatever ran under it may have overlapped with another
        holder, and the caller should know.
        """
        key, revision = self._key, self._revision
        self._key, self._revision = None, 0
        session = self._sessions.current
        gone = False
        try:
            if key is not None:
                deleted = await self._client.txn(
                    compare=[CreateRevision(key) == revision], success=[Delete(key)]
                )
                gone = not deleted.succeeded
        finally:
            await self._sessions.end()
        if gone:
            reason = session.lost_reason if session is not None else None
            raise LockNotHeldError(
                f"the {self._what} was lost while held ({reason or 'its key vanished'})"
            )

    async def _withdraw(self) -> None:
        """Take my key back after a failed or abandoned acquisition."""
        with contextlib.suppress(LockNotHeldError):
            await self.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.release()
        else:
            await self._withdraw()  # the body's error matters more than a lost hold
