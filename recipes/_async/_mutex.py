"""Mutex: etcd's distributed lock, as its concurrency package does it.

Each contender puts ``<name>/<lease id in hex>`` with its session's lease, if that
key does not exist yet; the contender whose key has the lowest create revision
holds the lock. The others each watch only the key created just before their own
and look again when it is deleted: a release wakes one waiter, nobody polls. The
same layout as ``etcdctl lock`` and Go's concurrency.Mutex, so they exclude each
other. The key's create revision is the fencing token (``revision``).
"""

from __future__ import annotations

from types import TracebackType

from etcd3py import (
    AsyncClient,
    Compare,
    CreateRevision,
    DeadlineExceededError,
    Get,
    LeaseLostError,
    LockNotHeldError,
    Put,
)

from ._session import DEFAULT_TTL, AsyncSession
from ._util import deadline_after, name_prefix
from ._wait import wait_deletes


class AsyncMutex:
    """``async with AsyncMutex(client, "jobs/lock", ttl=10) as m: ...``

    Give a client (a session of ``ttl`` seconds is made for the mutex) or a session
    (shared, for instance, by the locks of one process).
    """

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self._prefix = name_prefix(name, "mutex")
        if isinstance(client_or_session, AsyncSession):
            self._given: AsyncSession | None = client_or_session
            self._client = client_or_session.client
        else:
            self._given = None
            self._client = client_or_session
        self._ttl = ttl
        self._session: AsyncSession | None = self._given
        self._key: bytes | None = None
        self._revision = 0

    def __repr__(self) -> str:
        state = f"held as {self._key!r}" if self.held else "not held"
        return f"<Mutex {self._prefix[:-1]!r} {state}>"

    @property
    def session(self) -> AsyncSession | None:
        """The session holding (or last holding) the lock's key."""
        return self._session

    async def _start_session(self) -> AsyncSession:
        """The given session; or, for a mutex of its own, a live one (new after a release)."""
        if self._session is None or (self._given is None and self._session.lost):
            self._session = AsyncSession(self._client, self._ttl)
        return await self._session.start()

    @property
    def key(self) -> bytes:
        """The owner key while held."""
        self._check_held()
        assert self._key is not None
        return self._key

    @property
    def revision(self) -> int:
        """The owner key's create revision: a fencing token, increasing per holder."""
        self._check_held()
        return self._revision

    @property
    def held(self) -> bool:
        """True between acquire and release, unless the session was lost meanwhile."""
        return self._key is not None and self._session is not None and not self._session.lost

    def _check_held(self) -> None:
        if self._key is None or self._session is None:
            raise LockNotHeldError("the mutex is not held")
        if self._session.lost:
            raise LockNotHeldError(
                f"the mutex was lost with its session: {self._session.lost_reason}"
            )

    def is_owner(self) -> Compare:
        """A txn comparison that holds only while this holder still owns the lock."""
        self._check_held()
        assert self._key is not None
        return CreateRevision(self._key) == self._revision

    async def _try(self) -> bool:
        """etcd's tryAcquire: put my key if absent; am I the first by create revision?"""
        session = await self._start_session()
        client = self._client
        key = self._prefix + b"%x" % session.lease_id
        owner = Get(self._prefix, prefix=True, sort_target="create", sort_order="ascend", limit=1)
        response = await client.txn(
            compare=[CreateRevision(key) == 0],
            success=[Put(key, b"", lease=session.lease), owner],
            failure=[Get(key), owner],
        )
        if response.succeeded:
            revision = response.header.revision
        else:
            mine = response.responses[0]
            revision = mine.kvs[0].create_revision  # type: ignore[union-attr]
        self._key, self._revision = key, revision
        first = response.responses[1].kvs  # type: ignore[union-attr]
        return not first or first[0].create_revision == revision

    async def acquire(self, timeout: float | None = None) -> bool:
        """Wait until the lock is held (True), or ``timeout`` seconds pass (False).

        Raises LeaseLostError when the session is lost while waiting.
        """
        deadline = deadline_after(timeout)
        if await self._try():
            return True
        try:
            await wait_deletes(
                self._client,
                self._prefix,
                self._revision - 1,
                session=self._session,
                deadline=deadline,
            )
        except DeadlineExceededError:
            await self._withdraw()
            return False
        except BaseException:
            await self._withdraw()
            raise
        # my predecessors are gone; is my key still there (the session alive)?
        assert self._key is not None and self._session is not None
        mine = await self._client.get(self._key)
        if not mine.kvs:
            self._key = None
            raise LeaseLostError(self._session.lease_id, "the session's key vanished")
        return True

    async def try_acquire(self) -> bool:
        """Take the lock if it is free now; never wait."""
        if await self._try():
            return True
        await self._withdraw()
        return False

    async def _withdraw(self) -> None:
        """Take my key back after failing to get the lock."""
        await self.release()

    async def release(self) -> None:
        """Give the lock up (its key goes). Releasing a lock not held does nothing."""
        key, self._key = self._key, None
        self._revision = 0
        session = self._session
        if session is None or session.lost:
            return
        if self._given is None:
            await session.close()  # revoking the mutex's own lease deletes the key too
            self._session = None
        elif key is not None:
            await self._client.delete(key)

    async def __aenter__(self) -> AsyncMutex:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
