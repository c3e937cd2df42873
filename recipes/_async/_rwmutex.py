"""RWMutex: etcd's readers-writer lock (the algorithm of its experimental recipes).

A reader puts ``<name>/read/<id>``, a writer ``<name>/write/<id>``, each under its
session's lease. A reader holds the lock once no writer key created before its own
is left; a writer once no key at all created before its own is left. So readers
share, a writer is alone, and a waiting writer holds back the readers that come
after it (no writer starvation). Each waiter watches only the newest key it waits
for, so a release wakes only those it lets in. The layout is that of Go's
recipe.RWMutex, so the two exclude each other.
"""

from __future__ import annotations

import time

from etcd3py import (
    AsyncClient,
    CreateRevision,
    DeadlineExceededError,
    Put,
    _check,
)

from ._hold import _Hold
from ._session import DEFAULT_TTL, AsyncSession, AsyncSessionSource
from ._util import deadline_after, name_prefix, timed_out
from ._wait import wait_delete


class AsyncRWMutex:
    """``rw = AsyncRWMutex(session, "config/rw")``; ``async with rw.read_lock(): ...``

    Give a session (shared by the locks of a process) or a client (each lock then
    makes a session of ``ttl`` seconds while it is held).
    """

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self._prefix = name_prefix(name, "rwmutex")
        AsyncSessionSource(client_or_session, ttl)  # checks both, as each lock will
        self._client_or_session = client_or_session
        self._ttl = ttl

    def __repr__(self) -> str:
        return f"<RWMutex {self._prefix[:-1]!r}>"

    def read_lock(self, timeout: float | None = None) -> AsyncRWLock:
        """A shared hold; ``timeout`` bounds the wait of ``async with``."""
        return AsyncRWLock(self._client_or_session, self._prefix, "read", self._ttl, timeout)

    def write_lock(self, timeout: float | None = None) -> AsyncRWLock:
        """An exclusive hold; ``timeout`` bounds the wait of ``async with``."""
        return AsyncRWLock(self._client_or_session, self._prefix, "write", self._ttl, timeout)


class AsyncRWLock(_Hold):
    """One read or write hold of an RWMutex: ``acquire``/``release``, or ``async with``.

    ``async with`` raises DeadlineExceededError (a TimeoutError) when the lock's
    ``timeout`` passes first; ``acquire(timeout)`` returns False instead.
    """

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        prefix: bytes,
        mode: str,
        ttl: int,
        timeout: float | None,
    ) -> None:
        super().__init__(client_or_session, ttl)
        self.mode = mode
        self._what = f"{mode} lock"
        self._prefix = prefix
        self._timeout = _check.wait_timeout(timeout)

    def __repr__(self) -> str:
        state = f"held as {self._key!r}" if self.held else "not held"
        return f"<RWLock {self.mode} {self._prefix[:-1]!r} {state}>"

    async def acquire(self, timeout: float | None = None) -> bool:
        """Wait until held (True), or until ``timeout`` seconds passed (False).

        Raises LeaseLostError when the session is lost while waiting.
        """
        if self._key is not None:
            raise RuntimeError(f"{self!r} is already held; take another lock object")
        deadline = deadline_after(timeout)
        session = await self._sessions.start()
        # readers wait for earlier writers, writers for every earlier key
        blockers = self._prefix + b"write/" if self.mode == "read" else self._prefix
        try:
            await self._put_key(session)
            waited = False
            while True:
                newest = await self._client.get(
                    blockers,
                    prefix=True,
                    sort_target="create",
                    sort_order="descend",
                    limit=1,
                    max_create_revision=self._revision - 1,
                )
                if not newest.kvs:
                    break
                waited = True
                await wait_delete(
                    self._client,
                    newest.kvs[0].key,
                    newest.kvs[0].create_revision,
                    session=session,
                    deadline=deadline,
                )
            if waited:
                await self._confirm()
        except BaseException as error:
            await self._withdraw()
            if timed_out(error, deadline):
                return False
            raise
        await self._own()
        return True

    async def _put_key(self, session: AsyncSession) -> None:
        """Create a key of my own: ``<name>/<mode>/<lease hex>-<nanoseconds>``."""
        while True:
            unique = b"%x-%d" % (session.lease_id, time.time_ns())
            key = self._prefix + self.mode.encode() + b"/" + unique
            created = await self._client.txn(
                compare=[CreateRevision(key) == 0], success=[Put(key, b"", lease=session.lease)]
            )
            if created.succeeded:  # else the clock repeated itself: take another name
                self._key, self._revision = key, created.header.revision
                return

    async def __aenter__(self) -> AsyncRWLock:
        if not await self.acquire(self._timeout):
            raise DeadlineExceededError(f"{self!r} not acquired within {self._timeout}s")
        return self
