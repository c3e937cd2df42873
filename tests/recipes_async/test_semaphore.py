"""Semaphore on both servers: the limit, arrival order, no idle permit, loss, contention."""

from __future__ import annotations

import time

import pytest

from etcd3py import AsyncClient, DeadlineExceededError, LeaseLostError, LockNotHeldError
from etcd3py._async._primitives import AsyncFlag, AsyncLock
from etcd3py.recipes._async._semaphore import AsyncSemaphore
from etcd3py.recipes._async._session import AsyncSession
from tests.conftest import Restartable
from tests.recipes_async.jobs import Jobs

pytestmark = pytest.mark.anyio

TTL = 5
RESTART_TTL = 10  # long enough to outlive a restart of real etcd on a busy machine
WAIT = 20.0  # the longest any wait across a restart may take


async def count(aclient: AsyncClient, name: bytes) -> int:
    return (await aclient.get(name + b"/", prefix=True, count_only=True)).count


async def until_queued(aclient: AsyncClient, name: bytes, n: int) -> None:
    """Arrival is the creation of a contender's key: wait (bounded) until ``n`` are in."""
    deadline = time.monotonic() + 10
    while await count(aclient, name) < n:
        assert time.monotonic() < deadline, "a contender never queued"


async def sessions(aclient: AsyncClient, n: int, ttl: int = TTL) -> list[AsyncSession]:
    return [await AsyncSession(aclient, ttl).start() for _ in range(n)]


async def close(all_sessions: list[AsyncSession]) -> None:
    for session in all_sessions:
        await session.close()


async def test_limit_and_timeouts(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"sem"
    a, b, c = await sessions(aclient, 3)
    try:
        first, second = AsyncSemaphore(a, name, limit=2), AsyncSemaphore(b, name, limit=2)
        assert await first.acquire(timeout=0) and await second.acquire(timeout=0)
        assert first.key == name + b"/%x" % a.lease_id and second.revision > first.revision
        third = AsyncSemaphore(c, name, limit=2)
        assert not await third.acquire(timeout=0.3)
        assert await count(aclient, name) == 2  # the give-up left no key behind
        with pytest.raises(DeadlineExceededError):
            async with AsyncSemaphore(c, name, limit=2, timeout=0.2):
                pass
        await first.release()
        assert not first.held
        assert await third.acquire(timeout=5)
        await second.release()
        await third.release()
        assert await count(aclient, name) == 0
    finally:
        await close([a, b, c])
    with pytest.raises(ValueError):
        AsyncSemaphore(aclient, name, limit=0)


@pytest.mark.parametrize("leaving", ["older", "newer"])
async def test_any_holder_leaving_lets_the_first_waiter_in(
    aclient: AsyncClient, prefix: bytes, leaving: str
) -> None:
    name = prefix + b"sem"
    a, b, c = await sessions(aclient, 3)
    try:
        older, newer = AsyncSemaphore(a, name, limit=2), AsyncSemaphore(b, name, limit=2)
        await older.acquire()
        await newer.acquire()
        waiter = AsyncSemaphore(c, name, limit=2)
        jobs = Jobs()
        jobs.start(waiter.acquire, 15)
        await until_queued(aclient, name, 3)
        # either release must free a permit: none may stay idle behind the other holder
        await (older if leaving == "older" else newer).release()
        await jobs.join()
        assert waiter.held
    finally:
        await close([a, b, c])


async def test_waiters_get_in_in_arrival_order(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"sem"
    all_sessions = await sessions(aclient, 5)
    try:
        holders = [AsyncSemaphore(s, name, limit=2) for s in all_sessions[:2]]
        for holder in holders:
            await holder.acquire()
        entered = [AsyncFlag() for _ in range(3)]
        leave = [AsyncFlag() for _ in range(3)]
        order: list[int] = []

        async def contend(i: int) -> None:
            semaphore = AsyncSemaphore(all_sessions[2 + i], name, limit=2)
            assert await semaphore.acquire(timeout=15)
            order.append(i)
            entered[i].set()
            assert await leave[i].wait(15)
            await semaphore.release()

        jobs = Jobs()
        for i in range(3):
            jobs.start(contend, i)
            await until_queued(aclient, name, 3 + i)
        await holders[0].release()
        assert await entered[0].wait(10)
        await holders[1].release()  # the second waiter must hear of it through the first
        assert await entered[1].wait(10)
        assert order == [0, 1]  # the third is still behind two holders
        leave[0].set()
        assert await entered[2].wait(10)
        leave[1].set()
        leave[2].set()
        await jobs.join()
        assert order == [0, 1, 2]
        assert await count(aclient, name) == 0
    finally:
        await close(all_sessions)


async def test_never_more_than_limit_holders(aclient: AsyncClient, prefix: bytes) -> None:
    name, limit, contenders, rounds = prefix + b"sem", 3, 8, 3
    state = {"holders": 0, "most": 0, "entries": 0}
    guard = AsyncLock()

    async def work(i: int) -> None:
        async with AsyncSession(aclient, ttl=TTL) as session:
            for _ in range(rounds):
                semaphore = AsyncSemaphore(aclient if i % 2 else session, name, limit, ttl=TTL)
                async with semaphore:
                    async with guard:
                        state["holders"] += 1
                        state["entries"] += 1
                        state["most"] = max(state["most"], state["holders"])
                    await aclient.get(name)  # stay inside a while
                    async with guard:
                        state["holders"] -= 1

    jobs = Jobs()
    for i in range(contenders):
        jobs.start(work, i)
    await jobs.join(30)
    assert state["entries"] == contenders * rounds and state["holders"] == 0
    assert 1 <= state["most"] <= limit
    assert await count(aclient, name) == 0


async def test_holder_losing_its_session(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"sem"
    a, b = await sessions(aclient, 2)
    try:
        holder, waiter = AsyncSemaphore(a, name, limit=1), AsyncSemaphore(b, name, limit=1)
        await holder.acquire()
        jobs = Jobs()
        jobs.start(waiter.acquire, 15)
        await until_queued(aclient, name, 2)
        await aclient.revoke(a.lease_id)  # the holder's lease is gone: so is its permit
        await jobs.join()
        assert waiter.held
        assert await a.wait_lost(timeout=TTL)
        assert not holder.held
        with pytest.raises(LockNotHeldError):
            await holder.release()  # reported: it held nothing for a while
        await waiter.release()
    finally:
        await close([a, b])


async def test_waiter_losing_its_session(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"sem"
    (a,) = await sessions(aclient, 1)
    (lost,) = await sessions(aclient, 1, ttl=3)
    (c,) = await sessions(aclient, 1)
    try:
        holder = AsyncSemaphore(a, name, limit=1)
        await holder.acquire()
        doomed, behind = AsyncSemaphore(lost, name, limit=1), AsyncSemaphore(c, name, limit=1)

        async def revoke_when_queued() -> None:
            await until_queued(aclient, name, 2)
            jobs.start(behind.acquire, 15)  # queued after the doomed waiter: it watches it
            await until_queued(aclient, name, 3)
            await aclient.revoke(lost.lease_id)

        jobs = Jobs()
        jobs.start(revoke_when_queued)
        with pytest.raises(LeaseLostError):
            await doomed.acquire(timeout=15)
        assert not doomed.held
        await holder.release()
        await jobs.join()
        assert behind.held  # the waiter behind was not left waiting for the lost one
        await behind.release()
    finally:
        await close([a, lost, c])


async def test_a_client_makes_a_session_per_hold(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"sem"
    semaphore = AsyncSemaphore(aclient, name, limit=1, ttl=TTL)
    async with semaphore:
        assert semaphore.session is not None
        lease_id = semaphore.session.lease_id
        assert semaphore.key == name + b"/%x" % lease_id
    assert (await aclient.time_to_live(lease_id)).ttl == -1  # revoked with the permit
    assert await count(aclient, name) == 0


async def test_waiters_keep_waiting_across_a_server_restart(
    restartable: Restartable, prefix: bytes
) -> None:
    """Fault: kill -9 and revive the server while the semaphore is full and two wait.

    The first waiter watches the holders' deletions, the second the first waiter's
    key: both watches must carry on over the restart.
    """
    name = prefix + b"sem"
    async with AsyncClient(restartable.endpoint, timeout=10) as client:
        all_sessions = await sessions(client, 4, ttl=RESTART_TTL)
        try:
            holders = [AsyncSemaphore(s, name, limit=2) for s in all_sessions[:2]]
            for holder in holders:
                assert await holder.acquire(timeout=WAIT)
            entered = [AsyncFlag(), AsyncFlag()]

            async def contend(i: int) -> None:
                assert await AsyncSemaphore(all_sessions[2 + i], name, limit=2).acquire(WAIT)
                entered[i].set()

            jobs = Jobs()
            for i in range(2):
                jobs.start(contend, i)
                await until_queued(client, name, 3 + i)
            restartable.kill()
            restartable.revive()  # back within the sessions' TTL
            assert all(holder.held for holder in holders)
            assert await count(client, name) == 4  # nobody's key was lost
            assert not await entered[0].wait(1)  # full: nobody gets in
            assert not entered[1].is_set()
            await holders[0].release()
            assert await entered[0].wait(WAIT)
            assert not await entered[1].wait(1)  # one permit freed, one waiter let in
            await holders[1].release()
            assert await entered[1].wait(WAIT)
            await jobs.join(WAIT)
            assert await count(client, name) == 2  # the two who got in
        finally:
            await close(all_sessions)
