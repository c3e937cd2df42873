"""Mutex: etcd's distributed lock, as its concurrency package does it.

Each contender puts ``<name>/<lease id in hex>`` with its session's lease, if that
key does not exist yet; the contender whose key has the lowest create revision
holds the lock. The others each watch only the key created just before their own
and look again when it is deleted: a release wakes one waiter, nobody polls. The
same layout as ``etcdctl lock`` and Go's concurrency.Mutex, so they exclude each
other. The key's create revision is the fencing token (``revision``).
"""

from __future__ import annotations

import time

from etcd3py import AsyncClient, CreateRevision, Get, KeyValue, Put, TxnResponse

from .._metrics import lock_waited
from ._hold import _Hold
from ._session import DEFAULT_TTL, AsyncSession
from ._util import deadline_after, name_prefix, repeat_guarded, timed_out
from ._wait import wait_turn


class AsyncMutex(_Hold):
    """``async with AsyncMutex(client, "jobs/lock", ttl=10) as m: ...``

    Give a client (each acquisition gets a session of ``ttl`` seconds of its own,
    revoked at release) or a session (shared, for instance, by the locks of one
    process). Releasing a lock that was lost while held raises LockNotHeldError.
    """

    _what = "mutex"

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self._prefix = name_prefix(name, "mutex")
        self._predecessor: KeyValue | None = None
        self._read_at = 0  # the revision of the last transaction of _try
        super().__init__(client_or_session, ttl)

    def __repr__(self) -> str:
        state = f"held as {self._key!r}" if self.held else "not held"
        return f"<Mutex {self._prefix[:-1]!r} {state}>"

    async def _try(self, deadline: float | None, *, repeat: bool) -> bool:
        """etcd's tryAcquire: put my key if absent; am I the first by create revision?

        The same transaction also reads the two newest keys: when mine was just
        made, the second is my predecessor, the one to wait for. With ``repeat``, a
        transaction of unknown outcome is repeated until ``deadline``: its compare
        makes that safe.
        """
        session = await self._sessions.start()
        key = self._prefix + b"%x" % session.lease_id
        owner = Get(self._prefix, prefix=True, sort_target="create", sort_order="ascend", limit=1)
        newest = Get(self._prefix, prefix=True, sort_target="create", sort_order="descend", limit=2)

        async def put_if_absent() -> TxnResponse:
            return await self._client.txn(
                compare=[CreateRevision(key) == 0],
                success=[Put(key, b"", lease=session.lease), owner, newest],
                failure=[Get(key), owner],
            )

        if repeat:
            response = await repeat_guarded(put_if_absent, deadline, session.check_alive)
        else:
            response = await put_if_absent()
        self._predecessor = None
        if response.succeeded:
            revision = response.header.revision
            made = response.responses[2].kvs  # type: ignore[union-attr]
            if len(made) == 2 and made[0].key == key:
                self._predecessor = made[1]
        else:
            mine = response.responses[0]
            revision = mine.kvs[0].create_revision  # type: ignore[union-attr]
        self._key, self._revision, self._read_at = key, revision, response.header.revision
        first = response.responses[1].kvs  # type: ignore[union-attr]
        return not first or first[0].create_revision == revision

    async def acquire(self, timeout: float | None = None) -> bool:
        """Wait until the lock is held (True), or ``timeout`` seconds pass (False).

        Raises LeaseLostError when the session is lost while waiting.
        """
        deadline = deadline_after(timeout)
        start = time.monotonic()
        try:
            if not await self._try(deadline, repeat=True):
                session = self._sessions.current
                assert session is not None
                await self._watch_key()
                read_at = await wait_turn(
                    self._client,
                    self._prefix,
                    self._revision,
                    self._predecessor,
                    session=session,
                    deadline=deadline,
                    predecessor_read_at=self._read_at,
                )
            else:
                read_at = self._read_at
        except BaseException as error:
            await self._withdraw()
            if timed_out(error, deadline):
                lock_waited(self._what, time.monotonic() - start, "timeout")
                return False
            lock_waited(self._what, time.monotonic() - start, type(error).__name__)
            raise
        lock_waited(self._what, time.monotonic() - start, "acquired")
        await self._own(read_at)
        return True

    async def try_acquire(self) -> bool:
        """Take the lock if it is free now; never wait."""
        if await self._try(None, repeat=False):
            await self._own(self._read_at)
            return True
        await self._withdraw()
        return False

    async def __aenter__(self) -> AsyncMutex:
        await self.acquire()
        return self
