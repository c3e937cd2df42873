"""Barrier and DoubleBarrier, on both servers: waits, timeouts, lost sessions, restarts."""

from __future__ import annotations

import time

import pytest

from etcd3py import (
    ArgumentError,
    AsyncClient,
    InvalidArgumentError,
    LeaseLostError,
)
from etcd3py._async._primitives import spawn
from etcd3py.recipes._async._barrier import (
    AsyncBarrier,
    AsyncDoubleBarrier,
    DoubleBarrierFullError,
)
from etcd3py.recipes._async._session import AsyncSession
from tests.conftest import Restartable

pytestmark = pytest.mark.anyio

TTL = 5
WAIT = 20.0  # the longest any wait of these tests may take


async def _until_count(client: AsyncClient, prefix: bytes, count: int) -> None:
    """Wait until ``count`` keys are under ``prefix`` (participants have registered)."""
    deadline = time.monotonic() + WAIT
    while (await client.get(prefix, prefix=True, count_only=True)).count != count:
        assert time.monotonic() < deadline, f"never {count} keys under {prefix!r}"


# ---- Barrier ----


async def test_hold_wait_release(aclient: AsyncClient, prefix: bytes) -> None:
    barrier = AsyncBarrier(aclient, prefix + b"b1")
    assert await barrier.wait(timeout=0)  # not raised: no wait at all
    assert await barrier.hold()
    assert not await barrier.hold()  # raised already
    started = time.monotonic()
    assert not await barrier.wait(timeout=0.3)
    assert time.monotonic() - started >= 0.3
    results: list[bool] = []

    async def wait() -> None:
        results.append(await AsyncBarrier(aclient, prefix + b"b1").wait(timeout=WAIT))

    tasks = [spawn(wait, name=f"waiter-{i}") for i in range(3)]
    await barrier.release()
    for task in tasks:
        await task.join(WAIT)
    assert results == [True, True, True]
    assert await barrier.wait(timeout=0)
    with pytest.raises(ArgumentError, match="name must be a non-empty name for the barrier"):
        AsyncBarrier(aclient, "")


async def test_barrier_held_by_a_lost_session_lifts(aclient: AsyncClient, prefix: bytes) -> None:
    async with AsyncSession(aclient, ttl=TTL) as session:
        assert await AsyncBarrier(session, prefix + b"b1").hold()
        waiter = AsyncBarrier(aclient, prefix + b"b1")
        assert not await waiter.wait(timeout=0.2)
        await aclient.revoke(session.lease_id)  # the holder's process died
        assert await waiter.wait(timeout=WAIT)


async def test_barrier_wait_survives_a_server_restart(
    restartable: Restartable, prefix: bytes
) -> None:
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        barrier = AsyncBarrier(client, prefix + b"b1")
        await barrier.hold()
        results: list[bool] = []

        async def wait() -> None:
            results.append(await AsyncBarrier(client, prefix + b"b1").wait(timeout=WAIT))

        task = spawn(wait, name="waiter")
        restartable.kill()
        restartable.revive()
        assert results == []  # still raised after the restart
        await barrier.release()
        await task.join(WAIT)
        assert results == [True]


# ---- DoubleBarrier ----


async def test_double_barrier_enter_and_leave(aclient: AsyncClient, prefix: bytes) -> None:
    name, waiters = prefix + b"db", prefix + b"db/waiters/"
    async with (
        AsyncSession(aclient, ttl=TTL) as a,
        AsyncSession(aclient, ttl=TTL) as b,
        AsyncSession(aclient, ttl=TTL) as c,
    ):
        barriers = [AsyncDoubleBarrier(s, name, count=3) for s in (a, b, c)]
        log: list[str] = []

        async def enter(i: int) -> None:
            assert await barriers[i].enter(timeout=WAIT)
            log.append(f"in-{i}")

        tasks = [spawn(enter, i, name=f"enter-{i}") for i in range(2)]
        await _until_count(aclient, waiters, 2)
        assert log == []  # two of three: nobody is through
        assert await barriers[2].enter(timeout=WAIT)  # the third opens it
        for task in tasks:
            await task.join(WAIT)
        assert sorted(log) == ["in-0", "in-1"]
        assert (await aclient.get(name + b"/ready")).count == 1

        async def leave(i: int) -> None:
            assert await barriers[i].leave(timeout=WAIT)
            log.append(f"out-{i}")

        tasks = [spawn(leave, i, name=f"leave-{i}") for i in range(2)]
        await _until_count(aclient, waiters, 2)  # one left its key, the lowest waits
        assert len(log) == 2  # nobody is out while the third is in
        assert await barriers[2].leave(timeout=WAIT)
        for task in tasks:
            await task.join(WAIT)
        assert sorted(log[2:]) == ["out-0", "out-1"]
    assert (await aclient.get(prefix, prefix=True)).count == 0  # ready cleaned up too


async def test_double_barrier_with_a_client(aclient: AsyncClient, prefix: bytes) -> None:
    inside: list[int] = []

    async def participant(i: int) -> None:
        async with AsyncDoubleBarrier(aclient, prefix + b"db", count=2, ttl=TTL):
            inside.append(i)

    task = spawn(participant, 0, name="participant")
    await participant(1)
    await task.join(WAIT)
    assert sorted(inside) == [0, 1]
    assert (await aclient.get(prefix, prefix=True)).count == 0


async def test_double_barrier_timeouts(aclient: AsyncClient, prefix: bytes) -> None:
    name, waiters = prefix + b"db", prefix + b"db/waiters/"
    async with AsyncSession(aclient, ttl=TTL) as a, AsyncSession(aclient, ttl=TTL) as b:
        first = AsyncDoubleBarrier(a, name, count=2)
        started = time.monotonic()
        assert not await first.enter(timeout=0.3)  # alone: gives up, withdrawn
        assert time.monotonic() - started >= 0.3
        assert (await aclient.get(waiters, prefix=True)).count == 0
        task = spawn(first.enter, WAIT, name="enter")
        await _until_count(aclient, waiters, 1)
        second = AsyncDoubleBarrier(b, name, count=2)
        assert await second.enter(timeout=WAIT)
        await task.join(WAIT)
        assert not await first.leave(timeout=0.3)  # the lowest: waits for the other
        assert await second.leave(timeout=WAIT)  # not held up by the one that gave up
        assert await first.leave() and await second.leave()  # no-ops once out


async def test_double_barrier_too_many(aclient: AsyncClient, prefix: bytes) -> None:
    name, waiters = prefix + b"db", prefix + b"db/waiters/"
    async with (
        AsyncSession(aclient, ttl=TTL) as a,
        AsyncSession(aclient, ttl=TTL) as b,
        AsyncSession(aclient, ttl=TTL) as c,
    ):
        task = spawn(AsyncDoubleBarrier(a, name, count=2).enter, WAIT, name="enter")
        await _until_count(aclient, waiters, 1)
        assert await AsyncDoubleBarrier(b, name, count=2).enter(timeout=WAIT)
        await task.join(WAIT)
        with pytest.raises(DoubleBarrierFullError):
            await AsyncDoubleBarrier(c, name, count=2).enter(timeout=WAIT)
        assert (await aclient.get(waiters, prefix=True)).count == 2  # withdrew its key
    for bad in (0, -1):
        with pytest.raises(InvalidArgumentError):
            AsyncDoubleBarrier(aclient, name, count=bad)
    with pytest.raises(TypeError):
        AsyncDoubleBarrier(aclient, name, count="3")  # type: ignore[arg-type]


async def test_double_barrier_participant_lost_while_entering(
    aclient: AsyncClient, prefix: bytes
) -> None:
    name, waiters = prefix + b"db", prefix + b"db/waiters/"
    errors: list[BaseException] = []
    async with AsyncSession(aclient, ttl=TTL) as doomed:

        async def enter_and_die() -> None:
            try:
                await AsyncDoubleBarrier(doomed, name, count=3).enter(timeout=WAIT)
            except LeaseLostError as error:
                errors.append(error)

        task = spawn(enter_and_die, name="doomed")
        await _until_count(aclient, waiters, 1)
        await aclient.revoke(doomed.lease_id)  # its process died: its key goes
        await task.join(WAIT)
        assert len(errors) == 1
    # the lost one does not count: three live participants are still needed
    async with (
        AsyncSession(aclient, ttl=TTL) as a,
        AsyncSession(aclient, ttl=TTL) as b,
        AsyncSession(aclient, ttl=TTL) as c,
    ):
        entered: list[bool] = []

        async def enter(session: AsyncSession) -> None:
            entered.append(await AsyncDoubleBarrier(session, name, count=3).enter(timeout=WAIT))

        tasks = [spawn(enter, s, name="enter") for s in (a, b)]
        await _until_count(aclient, waiters, 2)
        assert entered == []
        assert await AsyncDoubleBarrier(c, name, count=3).enter(timeout=WAIT)
        for task in tasks:
            await task.join(WAIT)
        assert entered == [True, True]


async def test_double_barrier_participant_lost_inside(aclient: AsyncClient, prefix: bytes) -> None:
    name, waiters = prefix + b"db", prefix + b"db/waiters/"
    async with (
        AsyncSession(aclient, ttl=TTL) as a,
        AsyncSession(aclient, ttl=TTL) as b,
        AsyncSession(aclient, ttl=TTL) as c,
    ):
        barriers = [AsyncDoubleBarrier(s, name, count=3) for s in (a, b, c)]
        tasks = [spawn(barriers[i].enter, WAIT, name=f"enter-{i}") for i in range(2)]
        await _until_count(aclient, waiters, 2)
        assert await barriers[2].enter(timeout=WAIT)
        for task in tasks:
            await task.join(WAIT)
        await aclient.revoke(c.lease_id)  # the third dies inside the barrier
        left: list[bool] = []

        async def leave(i: int) -> None:
            left.append(await barriers[i].leave(timeout=WAIT))

        tasks = [spawn(leave, i, name=f"leave-{i}") for i in range(2)]
        for task in tasks:
            await task.join(WAIT)
        assert left == [True, True]  # the dead one does not hold the others
        assert await c.wait_lost(timeout=WAIT)
        with pytest.raises(LeaseLostError):
            await barriers[2].leave(timeout=WAIT)  # it learns it was lost
