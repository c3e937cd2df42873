"""Semaphore: at most ``limit`` holders at once, admitted in arrival order.

Each contender puts ``<name>/<lease id in hex>`` with its session's lease. A
contender holds a permit while fewer than ``limit`` keys under the name were
created before its own, so the holders are always the ``limit`` oldest keys and
the others queue behind them in create-revision order.

Waiting is herd-free, one watch per waiter, and never leaves a permit idle:

- the first waiter (exactly ``limit`` keys before it, all holders) watches the
  name's prefix for deletions: any holder leaving lets it in;
- every later waiter watches only the key just before its own, for any event: that
  key's deletion, or the touch (a re-put of the same empty value) its owner makes
  when it gets in after waiting, is the moment the later waiter may have become the
  first one. It then looks again.

Watching one fixed key "``limit`` places before" instead would miss a release by a
newer holder and leave a permit unused behind an old one.
"""

from __future__ import annotations

from etcd3py import (
    AsyncClient,
    CreateRevision,
    DeadlineExceededError,
    Get,
    LeaseLostError,
    Put,
    TxnResponse,
    _check,
)

from ._hold import _Hold
from ._session import DEFAULT_TTL, AsyncSession
from ._util import (
    WaitTimedOut,
    deadline_after,
    name_prefix,
    remaining,
    repeat_guarded,
    timed_out,
)


class AsyncSemaphore(_Hold):
    """``async with AsyncSemaphore(session, "jobs/slots", limit=3): ...``

    Give a session, or a client (a session of ``ttl`` seconds is made for each
    acquisition). One session holds at most one permit of a semaphore: two
    semaphore objects on one session and name share that permit (and its key).
    Every contender must use the same ``limit``. ``timeout`` bounds the wait of
    ``async with`` (DeadlineExceededError when it passes).
    """

    _what = "semaphore"

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        limit: int,
        ttl: int = DEFAULT_TTL,
        timeout: float | None = None,
    ) -> None:
        self.limit = _check.integer(limit, "limit", 1)
        super().__init__(client_or_session, ttl)
        self._prefix = name_prefix(name, "semaphore")
        self._timeout = _check.wait_timeout(timeout)

    def __repr__(self) -> str:
        state = f"held as {self._key!r}" if self.held else "not held"
        return f"<Semaphore {self._prefix[:-1]!r} limit={self.limit} {state}>"

    async def acquire(self, timeout: float | None = None) -> bool:
        """Wait for a permit (True), or until ``timeout`` seconds passed (False).

        Raises LeaseLostError when the session is lost while waiting.
        """
        deadline = deadline_after(timeout)
        session = await self._sessions.start()
        try:
            if await self._enter(session, deadline):
                await self._own()
                return True
            while True:
                before = await self._client.get(
                    self._prefix,
                    prefix=True,
                    sort_target="create",
                    sort_order="descend",
                    limit=self.limit + 1,
                    max_create_revision=self._revision - 1,
                )
                if len(before.kvs) < self.limit:
                    break
                first_waiter = len(before.kvs) == self.limit
                await _next_event(
                    self._client,
                    self._prefix if first_waiter else before.kvs[0].key,
                    before.header.revision + 1,
                    deletes_under_prefix=first_waiter,
                    session=session,
                    deadline=deadline,
                )
            await self._touch(session)
        except BaseException as error:
            await self._withdraw()
            if timed_out(error, deadline):
                return False
            raise
        await self._own()
        return True

    async def _enter(self, session: AsyncSession, deadline: float | None) -> bool:
        """Put my key if absent; True when it got a permit at once.

        Counting the keys in the same transaction tells whether anyone may ever
        have seen me waiting (and so watch me): only then must I touch my key. A
        transaction of unknown outcome is repeated until ``deadline`` (its compare
        makes that safe; a repeat that finds my key just waits, which is safe too).
        """
        key = self._prefix + b"%x" % session.lease_id

        async def put_if_absent() -> TxnResponse:
            return await self._client.txn(
                compare=[CreateRevision(key) == 0],
                success=[
                    Put(key, b"", lease=session.lease),
                    Get(self._prefix, count_only=True, prefix=True),
                ],
                failure=[Get(key)],
            )

        response = await repeat_guarded(put_if_absent, deadline, session.check_alive)
        if response.succeeded:
            self._key, self._revision = key, response.header.revision
            return response.responses[1].count <= self.limit  # type: ignore[union-attr]
        mine = response.responses[0].kvs[0]  # type: ignore[union-attr]
        self._key, self._revision = key, mine.create_revision
        return False

    async def _touch(self, session: AsyncSession) -> None:
        """Re-put my key (it still must be mine): wakes the waiter that watches it."""
        assert self._key is not None
        touched = await self._client.txn(
            compare=[CreateRevision(self._key) == self._revision],
            success=[Put(self._key, b"", lease=session.lease)],
        )
        if not touched.succeeded:
            raise LeaseLostError(session.lease_id, "the session's key vanished")

    async def __aenter__(self) -> AsyncSemaphore:
        if not await self.acquire(self._timeout):
            raise DeadlineExceededError(f"{self!r}: no permit within {self._timeout}s")
        return self


async def _next_event(
    client: AsyncClient,
    key: bytes,
    revision: int,
    *,
    deletes_under_prefix: bool,
    session: AsyncSession,
    deadline: float | None,
) -> None:
    """Return at the first event on ``key`` (or deletion under it, as a prefix)."""
    if deletes_under_prefix:
        watch = client.watch(key, prefix=True, start_revision=revision, filters=["noput"])
    else:
        watch = client.watch(key, start_revision=revision)
    session.check_alive()
    async with watch:
        with session.guard(watch):
            while True:
                response = await watch.get(remaining(deadline))
                if response is None:
                    raise WaitTimedOut
                if response.events:
                    return
