"""Waiting for predecessors: each waiter watches one key, never the whole prefix.

This is etcd's waitDeletes: find the newest key under a prefix created before me,
wait for its deletion, repeat until none is left. Every waiter watches only its own
predecessor, so a release wakes exactly one waiter: no herd, no polling.
"""

from __future__ import annotations

from etcd3py import AsyncClient, AsyncWatch, DeadlineExceededError, EventType

from ._session import AsyncSession
from ._util import deadline_after, remaining

__all__ = ["deadline_after", "remaining", "wait_delete", "wait_deletes"]


async def wait_delete(
    client: AsyncClient,
    key: bytes,
    revision: int,
    *,
    session: AsyncSession | None,
    deadline: float | None,
) -> None:
    """Return once ``key`` is deleted (watching from ``revision``)."""
    watch = client.watch(key, start_revision=revision, filters=["noput"])
    if session is not None:
        session.check_alive()
    async with watch:
        if session is None:
            await _until_deleted(watch, deadline)
            return
        with session.guard(watch):
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
        await wait_delete(
            client, newest.kvs[0].key, newest.header.revision, session=session, deadline=deadline
        )
