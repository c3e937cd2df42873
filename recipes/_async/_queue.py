"""Queue and PriorityQueue: many producers, many consumers, each item taken once.

Keys under the queue's name (deleting the prefix ``<name>/`` removes the queue)::

    <name>/items/<number>           a Queue item (number: 20 digits)
    <name>/items/<prio>/<number>    a PriorityQueue item (prio: 5 digits, 0 first)
    <name>/claims/<item suffix>     ack mode: a consumer's claim, on its session lease

Order. Consumers read the head of ``<name>/items/`` in key order, with a limit (etcd
applies a limit early only to key-ordered reads: a long queue costs nothing extra
per get). Key order is put order across producers, with no clock and no counter
key: a put applies only if no item at or above its key exists, so it always lands
above every item in the queue. Its number is the newest revision the producer saw,
which is above every item's number when the put has just failed (an item's number
is below the revision that created it), so a retry goes through unless yet another
producer got there first. (etcd's Go recipe names items by the producer's clock,
which orders producers only as well as their clocks agree.)

Taking. A consumer deletes -- in ack mode, claims -- the first item of the head that
is unchanged (ModRevision compare), in one transaction of nested ones: of two
consumers racing for an item one wins, the other gets the next. An empty queue is
waited on with a watch from the revision of the read, so no put is missed and
nobody polls. Every waiting consumer wakes at a put and one gets the item (the
same herd as etcd's recipe; fine for the tens of consumers a queue usually has).
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, cast, overload

from etcd3py import (
    AsyncClient,
    AsyncWatch,
    CompactedError,
    Compare,
    CreateRevision,
    Delete,
    EtcdError,
    Event,
    EventType,
    Get,
    GetResponse,
    KeyValue,
    LeaseLostError,
    LeaseNotFoundError,
    ModRevision,
    Put,
    Txn,
    TxnResponse,
    _check,
)

from ._session import DEFAULT_TTL, AsyncSession, AsyncSessionSource
from ._util import WaitTimedOut, as_bytes, deadline_after, name_prefix, remaining, timed_out

SCAN = 16  # items read per look at the head of the queue
MAX_PRIORITY = 0xFFFF  # as etcd's recipe: an unsigned 16-bit number, 5 digits


class AsyncJob:
    """An item claimed in ack mode: do the work, then ``ack()``.

    Until acked the item stays in the queue, claimed by a key on the consumer's
    session lease. If the consumer dies its lease expires, the claim goes with it,
    and another consumer gets the item: at-least-once delivery.
    """

    def __init__(
        self, client: AsyncClient, kv: KeyValue, claim: bytes, revision: int, lease_id: int
    ) -> None:
        self._client = client
        self.key = kv.key
        self.value = kv.value
        self._claim = claim
        self.revision = revision  # the claim's create revision: a fencing token
        self._lease_id = lease_id
        self._done = False

    def __repr__(self) -> str:
        return f"<Job {self.key!r} {self.value[:32]!r}>"

    def is_owner(self) -> Compare:
        """A txn comparison that holds only while this claim stands (fence side effects)."""
        return CreateRevision(self._claim) == self.revision

    async def ack(self) -> None:
        """The work is done: remove the item and the claim, in one transaction.

        Raises LeaseLostError when the claim was lost (the session expired): the item
        was, or will be, delivered to another consumer.
        """
        if self._done:
            return
        done = await self._client.txn(
            compare=[self.is_owner()], success=[Delete(self.key), Delete(self._claim)]
        )
        if not done.succeeded:
            raise LeaseLostError(
                self._lease_id, f"the claim on {self.key!r} was lost: it goes to another consumer"
            )
        self._done = True

    async def release(self) -> None:
        """Give the item back undone: another consumer gets it at once."""
        if not self._done:
            self._done = True
            await self._client.txn(compare=[self.is_owner()], success=[Delete(self._claim)])


T = TypeVar("T", bytes, AsyncJob)
Q = TypeVar("Q", bound="_AsyncQueueBase[Any]")


class _AsyncQueueBase(Generic[T]):
    """What Queue and PriorityQueue share: putting, taking, waiting, the session."""

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: bool,
        ttl: int,
    ) -> None:
        prefix = name_prefix(name, "queue")
        self._name = prefix[:-1]
        self._items = prefix + b"items/"
        self._claims = prefix + b"claims/"
        self._ack = ack
        self._sessions = AsyncSessionSource(client_or_session, ttl)
        self._client = self._sessions.client
        self._seen = 0  # the newest revision this producer saw: its next item's number

    def __repr__(self) -> str:
        mode = " ack" if self._ack else ""
        return f"<{type(self).__name__} {self._name!r}{mode}>"

    # ---- producing ----

    async def _put(self, middle: bytes, value: str | bytes) -> None:
        """Put ``<items><middle><number>``, above every item of its group (module doc)."""
        data = as_bytes(value, "value")
        group = self._items + middle
        end = group[:-1] + b"0"  # the end of the group: "/" + 1 is "0"
        while True:
            key = group + b"%020d" % self._seen
            response = await self._client.txn(
                compare=[CreateRevision(key, range_end=end) == 0],  # nothing from my key on
                success=[Put(key, data)],
                failure=[Get(key, range_end=end, keys_only=True, sort_order="descend", limit=1)],
            )
            self._seen = response.header.revision  # above every item there now
            if response.succeeded:
                return
            top = _read(response.responses[0]).kvs[0].key
            number = top[len(group) :]
            if len(number) != 20 or not number.isdigit():  # no retry would ever get above it
                raise EtcdError(f"{top!r} is not an item of {self!r}: is its name shared?")

    # ---- consuming ----

    @overload
    async def get(self, timeout: None = None) -> T: ...

    @overload
    async def get(self, timeout: float) -> T | None: ...

    async def get(self, timeout: float | None = None) -> T | None:
        """Take the first item, waiting for one; None if ``timeout`` seconds pass first.

        A bytes value, or in ack mode a Job to ``ack()``. In ack mode a lost session
        raises LeaseLostError. The timeout bounds the waiting: a read or a take in
        flight is finished, not abandoned (an abandoned take could lose an item).
        """
        deadline = deadline_after(timeout)
        try:
            return await self._get(deadline)
        except WaitTimedOut:  # (a take that timed out is an error: it may have taken)
            return None

    async def _get(self, deadline: float | None) -> T | None:
        session = await self._sessions.start() if self._ack else None
        limit = SCAN
        while True:
            candidates, revision, more = await self._head(limit)
            if candidates:
                taken = await self._take_first(candidates, session)
                if taken is not None:
                    return cast(T, taken)  # bytes, or in ack mode a job
                limit = SCAN  # others were quicker: look again
            elif more:  # all in view are claimed: read further
                limit *= 2
            elif not await self._wait_for_change(revision, session, deadline):
                return None

    async def _head(self, limit: int) -> tuple[list[KeyValue], int, bool]:
        """The free items among the first ``limit`` (at most SCAN of them), the revision
        of the read, and whether there are more items."""
        if not self._ack:
            head = await self._client.get(self._items, prefix=True, limit=limit)
            return head.kvs[:SCAN], head.header.revision, head.more
        both = await self._client.txn(
            success=[
                Get(self._items, prefix=True, limit=limit),
                Get(self._claims, prefix=True, keys_only=True),
            ]
        )
        head, claims = _read(both.responses[0]), _read(both.responses[1])
        claimed = {kv.key[len(self._claims) :] for kv in claims.kvs}
        free = [kv for kv in head.kvs if kv.key[len(self._items) :] not in claimed]
        return free[:SCAN], both.header.revision, head.more

    async def _take_first(
        self, kvs: list[KeyValue], session: AsyncSession | None
    ) -> bytes | AsyncJob | None:
        """Delete (ack mode: claim) the first of ``kvs`` still unchanged, in one
        transaction of nested ones: its value, or job; None if all were gone."""
        chain: list[Put | Get | Delete | Txn] = []
        for kv in reversed(kvs):
            unchanged = ModRevision(kv.key) == kv.mod_revision
            if session is None:
                chain = [Txn([unchanged], [Delete(kv.key)], chain)]
            else:
                claim = self._claims + kv.key[len(self._items) :]
                put = Put(claim, b"%x" % session.lease_id, lease=session.lease)
                chain = [Txn([unchanged, CreateRevision(claim) == 0], [put], chain)]
        try:
            response = await self._client.txn(success=chain)
        except LeaseNotFoundError as error:  # lost before the client noticed
            assert session is not None
            raise LeaseLostError(session.lease_id, "etcd does not know the lease") from error
        node = response.responses[0]
        for kv in kvs:
            assert isinstance(node, TxnResponse)
            if node.succeeded:
                if session is None:
                    return kv.value
                claim = self._claims + kv.key[len(self._items) :]
                revision = response.header.revision
                return AsyncJob(self._client, kv, claim, revision, session.lease_id)
            if not node.responses:
                break
            node = node.responses[0]
        return None

    async def _wait_for_change(
        self, revision: int, session: AsyncSession | None, deadline: float | None
    ) -> bool:
        """Wait for an item to become free after ``revision``; False at the deadline.

        Plain mode watches puts under items/; ack mode also claims that go without
        their item (a consumer died or released it). When the history after
        ``revision`` is compacted away (before the watch starts, or while it is cut
        off), True: what changed is unknown, so the caller reads the queue again.
        """
        if session is None:
            watch = self._client.watch(
                self._items, prefix=True, start_revision=revision + 1, filters=["nodelete"]
            )
        else:
            watch = self._client.watch(self._name + b"/", prefix=True, start_revision=revision + 1)
        try:
            async with watch:
                with contextlib.nullcontext() if session is None else session.guard(watch):
                    return await self._until_free(watch, deadline)
        except CompactedError:
            return True

    async def _until_free(self, watch: AsyncWatch, deadline: float | None) -> bool:
        while True:
            response = await watch.get(remaining(deadline))
            if response is None:
                return False  # the deadline passed
            if self._frees_an_item(response.events):
                return True

    def _frees_an_item(self, events: list[Event]) -> bool:
        deleted = {e.key for e in events if e.type == EventType.DELETE}
        for event in events:
            if event.type == EventType.PUT:
                if event.key.startswith(self._items):
                    return True
            elif event.key.startswith(self._claims):
                item = self._items + event.key[len(self._claims) :]
                if item not in deleted:  # a claim gone without its item: not acked
                    return True
        return False

    async def join(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty (in ack mode: every item acked); False on timeout."""
        deadline = deadline_after(timeout)
        try:
            return await self._join(deadline)
        except BaseException as error:
            if timed_out(error, deadline):
                return False
            raise

    async def _join(self, deadline: float | None) -> bool:
        while True:
            try:
                return await self._join_from_count(deadline)
            except CompactedError:  # the count's revision was compacted away: count again
                continue

    async def _join_from_count(self, deadline: float | None) -> bool:
        count = await self._client.get(
            self._items, prefix=True, count_only=True, timeout=remaining(deadline)
        )
        left = count.count
        if not left:
            return True
        watch = self._client.watch(
            self._items, prefix=True, start_revision=count.header.revision + 1
        )
        async with watch:
            while left:
                response = await watch.get(remaining(deadline))
                if response is None:
                    return False  # the deadline passed
                for event in response.events:  # items are only ever created and deleted
                    left += 1 if event.type == EventType.PUT else -1
        return True

    # ---- the session of ack mode ----

    async def close(self) -> None:
        """End the queue's own session (ack mode): unacked jobs go to other consumers."""
        await self._sessions.end()

    async def __aenter__(self: Q) -> Q:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _read(response: object) -> GetResponse:
    assert isinstance(response, GetResponse)
    return response


class AsyncQueue(_AsyncQueueBase[T]):
    """A FIFO queue: ``await q.put(b"job")``, ``await q.get(timeout=None)``.

    ``ack=False`` (default): at-most-once -- get() deletes the item and returns its
    bytes; a consumer that dies before doing the work loses it.
    ``ack=True``: at-least-once -- get() returns an AsyncJob that stays claimed (on a
    session lease of ``ttl`` seconds, or the given session) until ``ack()``; if the
    consumer dies first, the item is delivered again. All consumers of a queue must
    use the same mode.
    """

    @overload
    def __init__(
        self: AsyncQueue[bytes],
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: Literal[False] = False,
        ttl: int = DEFAULT_TTL,
    ) -> None: ...

    @overload
    def __init__(
        self: AsyncQueue[AsyncJob],
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: Literal[True],
        ttl: int = DEFAULT_TTL,
    ) -> None: ...

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: bool = False,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        super().__init__(client_or_session, name, ack=ack, ttl=ttl)

    async def put(self, value: str | bytes) -> None:
        """Append ``value``: it is taken after every item put before it."""
        await self._put(b"", value)


class AsyncPriorityQueue(_AsyncQueueBase[T]):
    """A priority queue: the lowest ``priority`` number first, FIFO within a priority.

    ``await pq.put(b"job", priority=5)``; priorities are ints from 0 (first) to
    65535 (last), as in etcd's recipe. Modes as for AsyncQueue.
    """

    @overload
    def __init__(
        self: AsyncPriorityQueue[bytes],
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: Literal[False] = False,
        ttl: int = DEFAULT_TTL,
    ) -> None: ...

    @overload
    def __init__(
        self: AsyncPriorityQueue[AsyncJob],
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: Literal[True],
        ttl: int = DEFAULT_TTL,
    ) -> None: ...

    def __init__(
        self,
        client_or_session: AsyncClient | AsyncSession,
        name: str | bytes,
        *,
        ack: bool = False,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        super().__init__(client_or_session, name, ack=ack, ttl=ttl)

    async def put(self, value: str | bytes, priority: int) -> None:
        """Add ``value`` with ``priority`` (0 is taken first, 65535 last)."""
        priority = _check.integer(priority, "priority", 0, MAX_PRIORITY)
        await self._put(b"%05d/" % priority, value)
