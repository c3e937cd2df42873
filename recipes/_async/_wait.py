"""Waiting for predecessors: each waiter watches one key, never the whole prefix.

This is etcd's waitDeletes: wait for the deletion of the newest key under a prefix
created before mine, repeat until none is left. Every waiter watches only its own
predecessor, so a release wakes exactly one waiter: no herd, no polling. After each
deletion one read of the oldest key tells both whether my turn came and whether my
key is still there (Go reads for an older key again, then reads mine).

One departure from etcd's Go code: the watch starts at the current revision, and the
key is read once more after it exists, instead of watching from the revision of the
first read. etcd serves a watch that starts in the past from a loop that runs every
100 ms, so under contention -- when the history has moved on by the time the watch
is made -- every hand-off would wait for that tick (measured: about 10 hand-offs per
second per contender, with Go's algorithm as well). The read after the watch
catches a deletion that happened before it; it is left out when the watch started
at the very revision the key was last read at (nothing happened in between).
"""

from __future__ import annotations

from etcd3py import (
    AsyncClient,
    AsyncWatch,
    EventType,
    KeyValue,
    LeaseLostError,
)

from ._session import AsyncSession
from ._util import WaitTimedOut, deadline_after, remaining

__all__ = ["deadline_after", "remaining", "wait_delete", "wait_turn"]


async def wait_delete(
    client: AsyncClient,
    key: bytes,
    create_revision: int | None,
    *,
    session: AsyncSession | None,
    deadline: float | None,
    read_at: int | None = None,
) -> None:
    """Return once ``key`` -- the one created at ``create_revision`` -- is gone.

    ``create_revision`` None means: the key as it is now, whatever its creation.
    ``read_at``: the revision at which the key was read with that create revision,
    when the caller knows it.
    """
    if session is not None:
        session.check_alive()
    watch = client.watch(key, filters=["noput"])
    async with watch:
        if session is not None:
            with session.guard(watch):
                await _wait_for_deletion(client, watch, key, create_revision, deadline, read_at)
        else:
            await _wait_for_deletion(client, watch, key, create_revision, deadline, read_at)


async def _wait_for_deletion(
    client: AsyncClient,
    watch: AsyncWatch,
    key: bytes,
    create_revision: int | None,
    deadline: float | None,
    read_at: int | None,
) -> None:
    # The watch sees every change after its start revision less one (events already
    # delivered move that later: a read more, never a deletion missed). Read as it
    # was at that revision or after, the key needs no second read: a deletion since
    # is an event (a new creation comes after a deletion).
    if create_revision is not None and read_at is not None and read_at >= watch.next_revision - 1:
        await _until_deleted(watch, deadline)
        return
    now = await client.get(key, timeout=remaining(deadline))  # after the watch exists
    if not now.kvs:
        return  # already gone
    if create_revision is not None and now.kvs[0].create_revision != create_revision:
        return  # gone, and made again by someone since: not the key we waited for
    await _until_deleted(watch, deadline)


async def _until_deleted(watch: AsyncWatch, deadline: float | None) -> None:
    while True:
        response = await watch.get(remaining(deadline))
        if response is None:
            raise WaitTimedOut
        if any(e.type == EventType.DELETE for e in response.events):
            return


async def wait_turn(
    client: AsyncClient,
    prefix: bytes,
    my_revision: int,
    predecessor: KeyValue | None,
    *,
    session: AsyncSession,
    deadline: float | None,
    predecessor_read_at: int | None = None,
) -> int:
    """Return once my key (created at ``my_revision``) is the oldest under ``prefix``:
    the revision of the read that found it so.

    Keys under ``prefix`` form a FIFO by creation. ``predecessor`` is the key
    created just before mine, when the caller knows it (read in the same
    transaction that created mine, at revision ``predecessor_read_at``), saving a
    read. After each predecessor goes, one read of the oldest key says whether my
    turn came -- and, since it finds my key, that my session still holds it. Raises
    LeaseLostError when my key is gone.
    """
    read_at = predecessor_read_at if predecessor is not None else None
    while True:
        if predecessor is None:
            newest = await client.get(
                prefix,
                prefix=True,
                sort_target="create",
                sort_order="descend",
                limit=1,
                max_create_revision=my_revision - 1,
                timeout=remaining(deadline),
            )
            if newest.kvs:
                predecessor = newest.kvs[0]
                read_at = newest.header.revision
        if predecessor is not None:
            await wait_delete(
                client,
                predecessor.key,
                predecessor.create_revision,
                session=session,
                deadline=deadline,
                read_at=read_at,
            )
            predecessor = None
        first = await client.get(
            prefix,
            prefix=True,
            sort_target="create",
            sort_order="ascend",
            limit=1,
            timeout=remaining(deadline),
        )
        oldest = first.kvs[0] if first.kvs else None
        if oldest is not None and oldest.create_revision == my_revision:
            return first.header.revision  # my turn, and my key is there
        if oldest is None or oldest.create_revision > my_revision:
            raise LeaseLostError(session.lease_id, "the session's key vanished while waiting")
