"""Waiting for predecessors: each waiter watches one key, never the whole prefix.

This is etcd's waitDeletes: find the newest key under a prefix created before me,
wait for its deletion, repeat until none is left. Every waiter watches only its own
predecessor, so a release wakes exactly one waiter: no herd, no polling.

One departure from etcd's Go code: the watch starts at the current revision, and the
key is read once more after it exists, instead of watching from the revision of the
first read. etcd serves a watch that starts in the past from a loop that runs every
100 ms, so under contention -- when the history has moved on by the time the watch
is made -- every hand-off would wait for that tick (measured: about 10 hand-offs per
second per contender, with Go's algorithm as well). The read after the watch
catches a deletion that happened before it.
"""

from __future__ import annotations

from etcd3py import AsyncClient, AsyncWatch, DeadlineExceededError, EventType

from ._session import AsyncSession
from ._util import deadline_after, remaining

__all__ = ["deadline_after", "remaining", "wait_delete", "wait_deletes"]


async def wait_delete(
    client: AsyncClient,
    key: bytes,
    create_revision: int | None,
    *,
    session: AsyncSession | None,
    deadline: float | None,
) -> None:
    """Return once ``key`` -- the one created at ``create_revision`` -- is gone.

    ``create_revision`` None means: the key as it is now, whatever its creation.
    """
    if session is not None:
        session.check_alive()
    watch = client.watch(key, filters=["noput"])
    async with watch:
        if session is not None:
            with session.guard(watch):
                await _wait_for_deletion(client, watch, key, create_revision, deadline)
        else:
            await _wait_for_deletion(client, watch, key, create_revision, deadline)


async def _wait_for_deletion(
    client: AsyncClient,
    watch: AsyncWatch,
    key: bytes,
    create_revision: int | None,
    deadline: float | None,
) -> None:
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
            raise DeadlineExceededError("the watch ended before the key was deleted")
        if any(e.type == EventType.DELETE for e in response.events):
            return


async def wait_deletes(
    client: AsyncClient,
    prefix: bytes,
    max_create_revision: int,
    *,
    session: AsyncSession | None,
    deadline: float | None,
) -> None:
    """Return once no key under ``prefix`` created at or before the revision is left."""
    while True:
        newest = await client.get(
            prefix,
            prefix=True,
            sort_target="create",
            sort_order="descend",
            limit=1,
            max_create_revision=max_create_revision,
            timeout=remaining(deadline),
        )
        if not newest.kvs:
            return
        predecessor = newest.kvs[0]
        await wait_delete(
            client,
            predecessor.key,
            predecessor.create_revision,
            session=session,
            deadline=deadline,
        )
