"""Election: leader election as etcd's concurrency package does it.

Candidates put ``<name>/<lease id in hex>`` with their session's lease; the one with
the lowest create revision leads, and its key's value is what it proclaims. Waiting
candidates watch only the candidate created just before them. The layout is etcd's,
so ``etcdctl elect`` and Go's concurrency.Election take part in the same elections.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

from etcd3py import (
    AsyncClient,
    AsyncWatch,
    CompactedError,
    CreateRevision,
    Delete,
    ElectionNotLeaderError,
    EtcdError,
    EventType,
    Get,
    KeyValue,
    Put,
    TxnResponse,
    WatchClosedError,
)

from ._owned import _Owned
from ._session import DEFAULT_TTL, AsyncSession
from ._util import (
    WaitTimedOut,
    as_bytes,
    deadline_after,
    name_prefix,
    remaining,
    repeat_guarded,
    timed_out,
    within,
)
from ._wait import wait_turn


class AsyncElection(_Owned):
    """``AsyncElection(client_or_session, "leader/svc", ttl=10)``

    While leading, the leader key is watched: if etcd deletes it (a revoked or
    expired lease, a delete by anyone) ``is_leader`` turns False at once and the
    ``on_lost`` callbacks run; ``guard()`` fences writes by the leadership.
    """

    _what = "election"

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        self._prefix = name_prefix(name, "election")
        super().__init__(client_or_session, ttl)

    def __repr__(self) -> str:
        state = f"leading as {self._key!r}" if self.is_leader else "not leading"
        return f"<Election {self._prefix[:-1]!r} {state}>"

    def _refusal(self, why: str | None = None) -> EtcdError:
        name = self._prefix[:-1]
        return ElectionNotLeaderError(f"not the leader of {name!r}" + (f": {why}" if why else ""))

    @property
    def is_leader(self) -> bool:
        """True from a won campaign to resign, until the leadership is lost: the
        leader key deleted (seen at once, by a watch on it) or the session lost."""
        return self._owning()

    @property
    def key(self) -> bytes:
        """The leader key while leading."""
        self._check_leader()
        assert self._key is not None
        return self._key

    @property
    def revision(self) -> int:
        """The leader key's create revision (increases with every new leader)."""
        self._check_leader()
        return self._revision

    def _check_leader(self) -> None:
        self._check_key()

    async def campaign(self, value: str | bytes, timeout: float | None = None) -> bool:
        """Stand for leader with ``value``; True once leading, False after ``timeout``.

        Raises LeaseLostError if the session is lost while waiting.
        """
        data = as_bytes(value)
        deadline = deadline_after(timeout)
        session = await self._sessions.start()
        key = self._prefix + b"%x" % session.lease_id
        newest = Get(self._prefix, prefix=True, sort_target="create", sort_order="descend", limit=2)
        # from here on a failure (a denied write, a write of unknown outcome) resigns,
        # so that no key and no lease of ours outlive it
        self._key, self._revision = key, 0
        try:

            async def put_if_absent() -> TxnResponse:
                return await self._client.txn(
                    compare=[CreateRevision(key) == 0],
                    success=[Put(key, data, lease=session.lease), newest],
                    failure=[Get(key)],
                )

            # its compare makes repeating a transaction of unknown outcome safe
            response = await repeat_guarded(put_if_absent, deadline, session.check_alive)
            self._revision = response.header.revision
            predecessor = None  # the candidate just before me, read with my key's creation
            if response.succeeded:
                made = response.responses[1].kvs  # type: ignore[union-attr]
                if len(made) == 2 and made[0].key == key:
                    predecessor = made[1]
            else:
                existing = response.responses[0].kvs[0]  # type: ignore[union-attr]
                self._revision = existing.create_revision
                if existing.value != data:
                    await self.proclaim(data)
            await wait_turn(
                self._client,
                self._prefix,
                self._revision,
                predecessor,
                session=session,
                deadline=deadline,
            )
        except BaseException as error:
            await self.resign()
            if timed_out(error, deadline):
                return False
            raise
        await self._own()
        return True

    async def proclaim(self, value: str | bytes) -> None:
        """Change the leader's value, without a new election."""
        data = as_bytes(value)
        self._check_leader()
        session = self._sessions.current
        assert self._key is not None and session is not None
        response = await self._client.txn(
            compare=[CreateRevision(self._key) == self._revision],
            success=[Put(self._key, data, lease=session.lease)],
        )
        if not response.succeeded:
            self._lose(self._watcher, "proclaim found the leader key gone")
            self._key = None
            raise self._refusal("its key is gone: the leadership was lost")

    async def resign(self) -> None:
        """Step down (or stop campaigning): the next candidate leads."""
        self._disown()
        key, self._key = self._key, None
        session = self._sessions.current
        if session is None or session.lost:
            return
        if self._sessions.given is None:
            await self._sessions.end()  # the election's own lease: revoking deletes the key
        elif key is not None:
            # revision 0: a campaign failed before it knew whether its key was made
            mine = [CreateRevision(key) == self._revision] if self._revision else []
            await self._client.txn(compare=mine, success=[Delete(key)])

    async def leader(self) -> KeyValue | None:
        """The current leader's key-value (its value is what it proclaimed), or None."""
        response = await self._client.get(
            self._prefix, prefix=True, sort_target="create", sort_order="ascend", limit=1
        )
        return response.kvs[0] if response.kvs else None

    def observe(self) -> AsyncObserver:
        """Follow the leadership: iterate for the leader's key-value at every change."""
        return AsyncObserver(self._client, self._prefix)

    async def __aenter__(self) -> AsyncElection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.resign()


class AsyncObserver:
    """The leader of an election, each time it changes (new leader, new value).

    Survives leader changes and compaction: after either it looks the leader up
    again, and never reports the same leader value twice in a row.
    """

    def __init__(self, client: AsyncClient, prefix: bytes) -> None:
        self._client = client
        self._prefix = prefix
        self._watch: AsyncWatch | None = None
        self._pending: deque[KeyValue] = deque()
        self._last: tuple[bytes, int] | None = None
        self._closed = False
        # the watch is on the whole prefix, waiting for a first candidate (no leader
        # was found): its events are candidates, not the leader's changes
        self._awaiting_first = False

    def __aiter__(self) -> AsyncObserver:
        return self

    async def __anext__(self) -> KeyValue:
        found = await self._next(None)
        if found is None:
            raise StopAsyncIteration
        return found

    async def get(self, timeout: float | None = None) -> KeyValue | None:
        """The next leader; None when ``timeout`` seconds pass first ("nothing yet").

        Raises WatchClosedError once the observer was cancelled.
        """
        deadline = deadline_after(timeout)
        found = await within(deadline, lambda: self._next(deadline))
        if found is None and self._closed:  # (not a wait that ran out)
            raise WatchClosedError(f"observing {self._prefix[:-1]!r}: cancelled")
        return found

    async def _next(self, deadline: float | None) -> KeyValue | None:
        """The next leader, or None once cancelled; WaitTimedOut at the deadline."""
        while not self._closed:
            while self._pending:
                kv = self._pending.popleft()
                seen = (kv.key, kv.mod_revision)
                if seen != self._last:
                    self._last = seen
                    return kv
            if self._watch is None:
                await self._find_leader(deadline)
                continue
            if self._awaiting_first:  # (a wait cut short by a deadline resumes here)
                await self._wait_first_candidate(deadline)
                continue
            try:
                response = await self._watch.get(remaining(deadline))
            except CompactedError:
                await self._drop_watch()  # history gone: look the leader up afresh
                continue
            except WatchClosedError:
                await self._drop_watch()  # cancelled by cancel(): the loop ends
                continue
            if response is None:
                raise WaitTimedOut
            for event in response.events:
                if event.type == EventType.DELETE:
                    await self._drop_watch()  # that leader is gone
                    break
                self._pending.append(event.kv)
        return None

    async def _find_leader(self, deadline: float | None) -> None:
        first = await self._client.get(
            self._prefix,
            prefix=True,
            sort_target="create",
            sort_order="ascend",
            limit=1,
            timeout=remaining(deadline),
        )
        if first.kvs:
            leader = first.kvs[0]
            self._pending.append(leader)
            watch = self._client.watch(leader.key, start_revision=first.header.revision + 1)
        else:
            # no leader: the next key created under the prefix is the next leader
            watch = self._client.watch(
                self._prefix, prefix=True, start_revision=first.header.revision + 1
            )
        self._watch = await watch.start()
        self._awaiting_first = not first.kvs

    async def _wait_first_candidate(self, deadline: float | None) -> None:
        assert self._watch is not None
        while True:
            try:
                response = await self._watch.get(remaining(deadline))
            except WatchClosedError:
                await self._drop_watch()  # cancelled by cancel(): the loop ends
                return
            if response is None:
                raise WaitTimedOut
            puts = [e.kv for e in response.events if e.type == EventType.PUT]
            if puts:
                leader = puts[0]  # the first key made under the prefix: the leader
                await self._drop_watch()
                self._pending.append(leader)
                self._watch = await self._client.watch(
                    leader.key, start_revision=leader.mod_revision + 1
                ).start()
                return

    async def _drop_watch(self) -> None:
        watch, self._watch = self._watch, None
        self._awaiting_first = False
        if watch is not None:
            await watch.cancel()

    async def cancel(self) -> None:
        """Stop observing: ``get`` returns None from now on, a waiting one too."""
        self._closed = True
        await self._drop_watch()

    async def __aenter__(self) -> AsyncObserver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cancel()
