"""RWMutex on both servers: shared readers, exclusive writers, etcd's order, loss."""

from __future__ import annotations

import time
from typing import Any

import pytest

from etcd3py import AsyncClient, DeadlineExceededError, LeaseLostError, LockNotHeldError, Put
from etcd3py._async._primitives import AsyncFlag, AsyncLock
from etcd3py.recipes._async._rwmutex import AsyncRWMutex
from etcd3py.recipes._async._session import AsyncSession
from tests.conftest import Restartable
from tests.recipes_async.jobs import Jobs

pytestmark = pytest.mark.anyio

TTL = 5
RESTART_TTL = 10  # long enough to outlive a restart of real etcd on a busy machine
WAIT = 20.0  # the longest any wait across a restart may take


async def keys(aclient: AsyncClient, name: bytes) -> list[bytes]:
    found = await aclient.get(name + b"/", prefix=True, sort_target="create", sort_order="ascend")
    return [kv.key for kv in found.kvs]


async def until_queued(aclient: AsyncClient, name: bytes, count: int) -> None:
    """Arrival is the creation of a contender's key: wait (bounded) until ``count`` are in."""
    deadline = time.monotonic() + 10
    while len(await keys(aclient, name)) < count:
        assert time.monotonic() < deadline, "a contender never queued"


async def test_readers_share_writers_exclude(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"rw"
    async with AsyncSession(aclient, ttl=TTL) as session:
        rw = AsyncRWMutex(session, name)
        async with rw.read_lock(timeout=5) as first, rw.read_lock(timeout=5) as second:
            assert first.held and second.held and first.key != second.key
            assert first.key.startswith(name + b"/read/")
            assert not await rw.write_lock().acquire(timeout=0.3)
            assert await keys(aclient, name) == [first.key, second.key]  # the writer withdrew
        writer = rw.write_lock()
        assert await writer.acquire(timeout=0)  # free: no wait needed
        assert writer.key.startswith(name + b"/write/")
        assert not await rw.read_lock().acquire(timeout=0.3)
        assert not await rw.write_lock().acquire(timeout=0)
        with pytest.raises(DeadlineExceededError):
            async with rw.read_lock(timeout=0.2):
                pass
        token = writer.revision
        await writer.release()
        assert not writer.held and await keys(aclient, name) == []
        async with rw.read_lock() as reader:
            assert reader.revision > token  # fencing tokens grow


async def test_a_waiting_writer_holds_back_later_readers(
    aclient: AsyncClient, prefix: bytes
) -> None:
    name = prefix + b"rw"
    order: list[str] = []
    async with AsyncSession(aclient, ttl=TTL) as session:
        rw = AsyncRWMutex(session, name)
        early = rw.read_lock()
        await early.acquire()

        async def take(lock: Any, who: str) -> None:
            async with lock:
                order.append(who)

        jobs = Jobs()
        jobs.start(take, rw.write_lock(timeout=15), "writer")
        await until_queued(aclient, name, 2)
        jobs.start(take, rw.read_lock(timeout=15), "late reader")
        await until_queued(aclient, name, 3)
        assert not await rw.read_lock().acquire(timeout=0.3)  # behind the writer, too
        assert order == []
        await early.release()
        await jobs.join()
    assert order == ["writer", "late reader"]


async def test_readers_and_writers_under_contention(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"rw"
    state = {"readers": 0, "writers": 0, "entries": 0}
    guard = AsyncLock()

    async def enter(kind: str) -> None:
        async with guard:
            state[kind] += 1
            state["entries"] += 1
            assert state["writers"] <= 1
            assert state["writers"] == 0 or state["readers"] == 0

    async def leave(kind: str) -> None:
        async with guard:
            state[kind] -= 1

    async def work(kind: str, own_session: bool) -> None:
        async with AsyncSession(aclient, ttl=TTL) as session:
            rw = AsyncRWMutex(aclient if own_session else session, name, ttl=TTL)
            for _ in range(3):
                lock = rw.read_lock(timeout=15) if kind == "readers" else rw.write_lock(timeout=15)
                async with lock:
                    await enter(kind)
                    await aclient.get(name)  # stay inside a while
                    await leave(kind)

    jobs = Jobs()
    for i in range(4):
        jobs.start(work, "readers", i % 2 == 0)
    for i in range(3):
        jobs.start(work, "writers", i % 2 == 0)
    await jobs.join(30)
    assert state == {"readers": 0, "writers": 0, "entries": 21}
    assert await keys(aclient, name) == []


async def test_holder_losing_its_session(aclient: AsyncClient, prefix: bytes) -> None:
    name, data = prefix + b"rw", prefix + b"data"
    entered = AsyncFlag()
    async with AsyncSession(aclient, ttl=TTL) as mine, AsyncSession(aclient, ttl=TTL) as other:
        holder = AsyncRWMutex(mine, name).write_lock()
        await holder.acquire()
        fence = holder.is_owner()

        async def read() -> None:
            async with AsyncRWMutex(other, name).read_lock(timeout=15):
                entered.set()

        jobs = Jobs()
        jobs.start(read)
        await until_queued(aclient, name, 2)
        await aclient.revoke(mine.lease_id)  # the holder's lease is gone: so is its lock
        assert await entered.wait(10)  # the reader got in
        await jobs.join()
        assert await mine.wait_lost(timeout=TTL)
        assert not holder.held
        with pytest.raises(LockNotHeldError):
            _ = holder.revision
        # no phantom holder: a write fenced by the old hold is refused
        assert not (await aclient.txn(compare=[fence], success=[Put(data, "stale")])).succeeded
        with pytest.raises(LockNotHeldError):
            await holder.release()  # reported, once


async def test_a_lost_hold_is_reported_when_the_block_ends(
    aclient: AsyncClient, prefix: bytes
) -> None:
    name = prefix + b"rw"
    async with AsyncSession(aclient, ttl=TTL) as session:
        with pytest.raises(LockNotHeldError):
            async with AsyncRWMutex(session, name).write_lock():
                await aclient.revoke(session.lease_id)
    # a body that fails keeps its own error
    async with AsyncSession(aclient, ttl=TTL) as session:
        with pytest.raises(KeyError):
            async with AsyncRWMutex(session, name).read_lock():
                await aclient.revoke(session.lease_id)
                raise KeyError("mine")


async def test_waiter_losing_its_session(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"rw"
    async with AsyncSession(aclient, ttl=TTL) as holding, AsyncSession(aclient, ttl=3) as waiting:
        holder = AsyncRWMutex(holding, name).read_lock()
        await holder.acquire()

        async def revoke_when_queued() -> None:
            await until_queued(aclient, name, 2)
            await aclient.revoke(waiting.lease_id)

        jobs = Jobs()
        jobs.start(revoke_when_queued)
        waiter = AsyncRWMutex(waiting, name).write_lock()
        with pytest.raises(LeaseLostError):
            await waiter.acquire(timeout=15)
        await jobs.join()
        assert not waiter.held
        assert await keys(aclient, name) == [holder.key]
        await holder.release()


async def test_a_client_makes_a_session_per_hold(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"rw"
    rw = AsyncRWMutex(aclient, name, ttl=TTL)
    lock = rw.write_lock(timeout=5)
    async with lock:
        assert lock.session is not None
        lease_id = lock.session.lease_id
        assert (await aclient.time_to_live(lease_id)).ttl > 0
    assert lock.session is None
    assert (await aclient.time_to_live(lease_id)).ttl == -1  # revoked with the hold
    assert await keys(aclient, name) == []
    async with lock:  # the same lock object holds again, on a new session
        assert lock.session is not None and lock.session.lease_id != lease_id


@pytest.mark.parametrize(("holding", "waiting"), [("read", "write"), ("write", "read")])
async def test_a_waiter_keeps_waiting_across_a_server_restart(
    restartable: Restartable, prefix: bytes, holding: str, waiting: str
) -> None:
    """Fault: kill -9 and revive the server while a writer waits for a reader (and back)."""
    name = prefix + b"rw"
    entered = AsyncFlag()
    async with (
        AsyncClient(restartable.endpoint, timeout=10) as client,
        AsyncSession(client, ttl=RESTART_TTL) as mine,
        AsyncSession(client, ttl=RESTART_TTL) as other,
    ):
        rw, theirs = AsyncRWMutex(mine, name), AsyncRWMutex(other, name)
        holder = rw.read_lock() if holding == "read" else rw.write_lock()
        assert await holder.acquire(timeout=WAIT)

        async def wait() -> None:
            lock = theirs.read_lock(WAIT) if waiting == "read" else theirs.write_lock(WAIT)
            async with lock:
                entered.set()

        jobs = Jobs()
        jobs.start(wait)
        await until_queued(client, name, 2)
        restartable.kill()
        restartable.revive()  # back within the sessions' TTL
        assert holder.held
        assert (await keys(client, name))[0] == holder.key  # still there, still first
        assert (await client.txn(compare=[holder.is_owner()], success=[])).succeeded
        assert not await entered.wait(1)  # nobody gets in while it is held
        await holder.release()
        assert await entered.wait(WAIT)  # the waiter heard of the release after the restart
        await jobs.join(WAIT)
        assert await keys(client, name) == []
