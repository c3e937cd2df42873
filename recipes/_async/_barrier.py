"""Barrier and DoubleBarrier, as etcd's recipes do them.

Barrier: one key. ``hold()`` creates it, ``release()`` deletes it, ``wait()`` returns
once it is absent. A waiter watches the key from the revision at which it read it, so
a release between the read and the watch is not missed.

DoubleBarrier: ``count`` participants meet at ``enter()`` and again at ``leave()``::

    <name>/waiters/<lease hex>-<random>   one per participant, on its session lease
    <name>/ready                          put by the count-th participant to enter

Entering, a participant registers its key, then ranks the keys by create revision:
the count-th puts ``ready``, the earlier ones wait for that put, later ones (one too
many) withdraw and raise DoubleBarrierFullError. (etcd's recipe counts the keys
instead, so when too many arrive at once all of them may fail; ranking lets exactly
the first ``count`` through.) Leaving is etcd's algorithm: the participant with the
lowest key waits for the highest to go, the others delete their key and wait for the
lowest to go, and the last one deletes ``ready``. A participant whose session
expires loses its key as if it had left, so the others are never held forever.
"""

from __future__ import annotations

import uuid
from types import TracebackType

from etcd3py import (
    ArgumentTypeError,
    AsyncClient,
    CreateRevision,
    Delete,
    LeaseLostError,
    ModRevision,
    Put,
    _check,
)
from etcd3py.errors import DoubleBarrierFullError

from ._session import DEFAULT_TTL, AsyncSession, AsyncSessionSource
from ._util import deadline_after, name_prefix, remaining, timed_out
from ._wait import wait_delete


class AsyncBarrier:
    """``await AsyncBarrier(client, "b1").hold()``, ``.release()``, ``.wait(timeout)``.

    With a client the barrier key outlives its holder (as in etcd's recipe): only
    ``release()`` lifts it. With a session the key is on the session's lease, so the
    barrier also lifts when the holder's session ends or its process dies.
    """

    def __init__(self, client_or_session: AsyncClient | AsyncSession, name: str | bytes) -> None:
        self._key = name_prefix(name, "barrier")[:-1]
        if isinstance(client_or_session, AsyncSession):
            self._session: AsyncSession | None = client_or_session
            self._client = client_or_session.client
        elif isinstance(client_or_session, AsyncClient):
            self._session = None
            self._client = client_or_session
        else:
            raise ArgumentTypeError(
                "client_or_session", client_or_session, "an AsyncClient or an AsyncSession"
            )

    def __repr__(self) -> str:
        return f"<Barrier {self._key!r}>"

    async def hold(self) -> bool:
        """Raise the barrier; False if it was already raised (it stays as it was)."""
        lease = None
        if self._session is not None:
            lease = (await self._session.start()).lease
        created = await self._client.txn(
            compare=[CreateRevision(self._key) == 0], success=[Put(self._key, b"", lease=lease)]
        )
        return created.succeeded

    async def release(self) -> None:
        """Lift the barrier: every waiter returns."""
        await self._client.delete(self._key)

    async def wait(self, timeout: float | None = None) -> bool:
        """Return True once the barrier is not raised (at once if it is not now);
        False when ``timeout`` seconds pass first."""
        deadline = deadline_after(timeout)
        held = await self._client.get(self._key)
        if not held.kvs:
            return True
        try:
            await wait_delete(
                self._client,
                self._key,
                held.kvs[0].create_revision,
                session=None,
                deadline=deadline,
            )
        except BaseException as error:
            if timed_out(error, deadline):
                return False
            raise
        return True


class AsyncDoubleBarrier:
    """``async with AsyncDoubleBarrier(session, "db1", count=3): ...``

    ``enter()`` returns once ``count`` participants have entered, ``leave()`` once all
    of them have left. Give a session (its lease carries the participant's key) or a
    client (a session of ``ttl`` seconds is made, and closed by ``leave()``).
    """

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        count: int,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        prefix = name_prefix(name, "double barrier")
        self.count = _check.integer(count, "count", 1)
        self._waiters = prefix + b"waiters/"
        self._ready = prefix + b"ready"
        self._sessions = AsyncSessionSource(client_or_session, ttl)
        self._client = self._sessions.client
        self._key: bytes | None = None  # my key under waiters/, between enter and leave
        self._revision = 0  # its create revision

    def __repr__(self) -> str:
        state = "entered" if self._key is not None else "outside"
        return f"<DoubleBarrier {self._waiters[: -len(b'/waiters/')]!r} {state}>"

    async def _ranked(self) -> list[bytes]:
        """The participants' keys, first entered first."""
        waiters = await self._client.get(
            self._waiters, prefix=True, sort_target="create", sort_order="ascend", keys_only=True
        )
        return [kv.key for kv in waiters.kvs]

    async def enter(self, timeout: float | None = None) -> bool:
        """Wait until ``count`` participants have entered: True.

        False when ``timeout`` seconds pass first (the participant withdraws). Raises
        DoubleBarrierFullError when ``count`` others are in already, LeaseLostError
        when the session is lost meanwhile.
        """
        if self._key is not None:
            raise RuntimeError("already entered: leave() first")
        deadline = deadline_after(timeout)
        session = await self._sessions.start()
        key = self._waiters + b"%x-%s" % (session.lease_id, uuid.uuid4().hex[:12].encode())
        put = await self._client.put(key, b"", lease=session.lease)
        self._key, self._revision = key, put.header.revision
        try:
            try:
                met = await self._meet(session, key, deadline)
            except BaseException as error:
                if not timed_out(error, deadline):
                    raise
                met = False
            if met:
                return True
            # the deadline passed: withdraw, unless the count-th came in meanwhile
            withdrawn = await self._client.txn(
                compare=[ModRevision(self._ready) < self._revision], success=[Delete(key)]
            )
            if not withdrawn.succeeded:
                return True
        except BaseException:
            await self._quit(key)
            raise
        await self._quit(None)
        return False

    async def _meet(self, session: AsyncSession, key: bytes, deadline: float | None) -> bool:
        """Rank my key: the count-th opens the barrier, earlier ones wait for it."""
        keys = await self._ranked()
        if key not in keys:
            raise LeaseLostError(session.lease_id, "the participant's key vanished")
        rank = keys.index(key)
        if rank >= self.count:
            raise DoubleBarrierFullError(f"{self.count} participants are in the barrier already")
        if rank == self.count - 1:
            await self._client.put(self._ready, b"")
            return True
        watch = self._client.watch(self._ready, start_revision=self._revision, filters=["nodelete"])
        async with watch:
            with session.guard(watch):
                while True:
                    response = await watch.get(remaining(deadline))
                    if response is None:
                        return False  # the deadline passed
                    if response.events:
                        return True

    async def leave(self, timeout: float | None = None) -> bool:
        """Wait until every participant has left: True.

        False when ``timeout`` seconds pass first; the participant's key is gone
        either way, so nobody waits for it. Raises LeaseLostError when the session
        was lost since ``enter()``. Does nothing when not entered.
        """
        deadline = deadline_after(timeout)
        mine = self._key
        if mine is None:
            return True
        finished = False
        try:
            await self._leave(mine, deadline)
            finished = True
        except BaseException as error:
            if not timed_out(error, deadline):
                raise
        finally:
            await self._quit(None if finished else mine)
        return finished

    async def _leave(self, mine: bytes, deadline: float | None) -> None:
        session = self._sessions.current
        assert session is not None
        deleted = False
        while True:
            keys = await self._ranked()
            if mine not in keys and not deleted:
                raise LeaseLostError(session.lease_id, "the participant's key vanished")
            if not keys:
                return
            if keys == [mine]:  # the last one: clean up
                await self._client.txn(success=[Delete(self._ready), Delete(mine)])
                return
            if keys[0] == mine:  # the lowest waits for the highest to go
                await wait_delete(self._client, keys[-1], None, session=session, deadline=deadline)
                continue
            if not deleted:
                await self._client.delete(mine)
                deleted = True
            await wait_delete(self._client, keys[0], None, session=None, deadline=deadline)

    async def _quit(self, key: bytes | None) -> None:
        """Delete ``key`` (if given, and the session still holds it), forget it, and
        close the session if it is the barrier's own."""
        session = self._sessions.current
        self._key = None
        if key is not None and session is not None and not session.lost:
            await self._client.delete(key)
        await self._sessions.end()

    async def __aenter__(self) -> AsyncDoubleBarrier:
        await self.enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.leave()
