"""Session and Mutex, on both servers: exclusion, order, fencing, loss, etcdctl lock."""

from __future__ import annotations

import time

import pytest

from etcd3py import AsyncClient, DeadlineExceededError, LeaseLostError, LockNotHeldError, Put
from etcd3py._async._primitives import spawn
from etcd3py.recipes import AsyncMutex, AsyncSession
from tests.conftest import Restartable
from tests.support.backends import Backend
from tests.support.etcdctl import Background
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

TTL = 5


async def test_session_keys_are_ephemeral(aclient: AsyncClient, prefix: bytes) -> None:
    async with AsyncSession(aclient, ttl=2) as session:
        await aclient.put(prefix + b"k", "v", lease=session.lease)
        deadline = time.monotonic() + 5  # outlive the TTL: the session renews it
        while time.monotonic() < deadline:
            assert (await aclient.get(prefix + b"k")).count == 1
            assert await session.wait_lost(timeout=0.5) is False
    assert (await aclient.get(prefix + b"k")).count == 0  # closed: revoked with its keys


async def test_session_loss_is_reported(aclient: AsyncClient) -> None:
    lost: list[int] = []
    async with AsyncSession(aclient, ttl=2) as session:
        session.on_lost(lambda s: lost.append(s.lease_id))
        await aclient.revoke(session.lease_id)
        assert await session.wait_lost(timeout=5)
        assert session.lost and lost == [session.lease_id]
        with pytest.raises(LeaseLostError):
            session.check_alive()


async def test_exclusion_and_timeouts(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"lock"
    first, second = AsyncMutex(aclient, name, ttl=TTL), AsyncMutex(aclient, name, ttl=TTL)
    assert await first.acquire() and first.held
    assert not await second.try_acquire()
    started = time.monotonic()
    assert not await second.acquire(timeout=0.3)
    assert time.monotonic() - started >= 0.3
    # a give-up leaves no key behind
    assert [kv.key for kv in (await aclient.get(name + b"/", prefix=True)).kvs] == [first.key]
    await first.release()
    assert await second.acquire(timeout=5)
    assert second.revision > 0
    await second.release()
    assert (await aclient.get(name + b"/", prefix=True)).count == 0


async def test_waiters_get_the_lock_in_arrival_order(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"lock"
    holder = AsyncMutex(aclient, name, ttl=TTL)
    await holder.acquire()
    order: list[int] = []

    async def contend(i: int) -> None:
        mutex = AsyncMutex(aclient, name, ttl=TTL)
        assert await mutex.acquire(timeout=20)
        order.append(i)
        await mutex.release()

    tasks = []
    for i in range(4):
        tasks.append(spawn(contend, i, name=f"contender-{i}"))
        # arrival is the creation of the waiter's key: wait for it before the next
        deadline = time.monotonic() + 10
        while (await aclient.get(name + b"/", prefix=True)).count < i + 2:
            assert time.monotonic() < deadline, "a contender never queued"
    await holder.release()
    for task in tasks:
        await task.join(30)
    assert order == [0, 1, 2, 3]


async def test_mutual_exclusion_under_contention(aclient: AsyncClient, prefix: bytes) -> None:
    counter = prefix + b"counter"
    await aclient.put(counter, "0")
    rounds, workers = 5, 4

    async def work(n: int) -> None:
        for _ in range(rounds):
            async with AsyncMutex(aclient, prefix + b"lock", ttl=TTL):
                value = int((await aclient.get(counter)).value or b"0")
                await aclient.put(counter, str(value + 1))  # a lost update if two got in

    tasks = [spawn(work, n, name=f"worker-{n}") for n in range(workers)]
    for task in tasks:
        await task.join(60)
    assert (await aclient.get(counter)).value == str(rounds * workers).encode()


async def test_fencing_token_guards_writes(aclient: AsyncClient, prefix: bytes) -> None:
    name, data = prefix + b"lock", prefix + b"data"
    async with AsyncSession(aclient, ttl=TTL) as session:
        mutex = AsyncMutex(session, name)
        await mutex.acquire()
        guarded = await aclient.txn(compare=[mutex.is_owner()], success=[Put(data, "mine")])
        assert guarded.succeeded
        token = mutex.revision
        await mutex.release()
        later = AsyncMutex(session, name)
        await later.acquire()
        assert later.revision > token  # tokens grow with every holder
        await later.release()


async def test_holder_losing_its_session(aclient: AsyncClient, prefix: bytes) -> None:
    name, data = prefix + b"lock", prefix + b"data"
    holder = AsyncMutex(aclient, name, ttl=TTL)
    await holder.acquire()
    guard = holder.is_owner()
    assert holder.session is not None
    await aclient.revoke(holder.session.lease_id)  # its lease is gone: so is the lock
    assert await holder.session.wait_lost(timeout=TTL + 2)
    assert not holder.held
    with pytest.raises(LockNotHeldError):
        _ = holder.revision
    # a write guarded by the old ownership is refused: no phantom holder
    assert not (await aclient.txn(compare=[guard], success=[Put(data, "stale")])).succeeded
    waiter = AsyncMutex(aclient, name, ttl=TTL)
    assert await waiter.acquire(timeout=5)
    await waiter.release()
    with pytest.raises(LockNotHeldError, match="lost while held"):
        await holder.release()  # the loss is reported once more, at release
    await holder.release()  # and then it is over


async def test_waiter_losing_its_session(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"lock"
    holder = AsyncMutex(aclient, name, ttl=TTL)
    await holder.acquire()
    async with AsyncSession(aclient, ttl=TTL) as session:
        waiter = AsyncMutex(session, name)

        async def revoke_when_queued() -> None:
            deadline = time.monotonic() + 10
            while (await aclient.get(name + b"/", prefix=True)).count < 2:
                assert time.monotonic() < deadline
            await aclient.revoke(session.lease_id)

        task = spawn(revoke_when_queued, name="revoker")
        with pytest.raises(LeaseLostError):
            await waiter.acquire(timeout=15)
        await task.join(10)
        assert not waiter.held
    await holder.release()


async def test_interoperates_with_etcdctl_lock(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    name = (prefix + b"lock").decode()
    ctl = Background(backend.endpoint, "lock", name)
    try:
        held_by_ctl = ctl.read_lines(1)[0]  # etcdctl holds it
        assert held_by_ctl.startswith(name + "/")
        mine = AsyncMutex(aclient, name, ttl=TTL)
        assert not await mine.acquire(timeout=0.5)
        ctl.stop()  # etcdctl releases on SIGTERM
        assert await mine.acquire(timeout=10)
        ctl = Background(backend.endpoint, "lock", name)  # now etcdctl waits for us
        deadline = time.monotonic() + 10
        while (await aclient.get(name + "/", prefix=True)).count < 2:
            assert time.monotonic() < deadline, "etcdctl never queued"
        assert ctl.printed_nothing()
        await mine.release()
        assert ctl.read_lines(1)[0].startswith(name + "/")
    finally:
        ctl.stop()


async def test_lock_survives_a_server_restart(restartable: Restartable, prefix: bytes) -> None:
    name = prefix + b"lock"
    async with AsyncClient(restartable.endpoint, timeout=3) as client:
        holder = AsyncMutex(client, name, ttl=10)
        await holder.acquire()
        restartable.kill()
        restartable.revive()  # back within the lease TTL
        assert holder.held
        waiter = AsyncMutex(client, name, ttl=10)
        assert not await waiter.acquire(timeout=0.5)
        await holder.release()
        assert await waiter.acquire(timeout=10)
        await waiter.release()


async def test_interoperates_with_the_lock_service(aclient: AsyncClient, prefix: bytes) -> None:
    """Our Mutex and etcd's Lock service use one key layout: each excludes the other."""
    name = prefix + b"lock"
    mutex = AsyncMutex(aclient, name, ttl=TTL)
    lease = await aclient.grant(30)
    assert await mutex.acquire(timeout=5)
    with pytest.raises(DeadlineExceededError):
        await aclient.lock(name, lease, timeout=0.5)  # the service waits for our holder
    await mutex.release()
    held = await aclient.lock(name, lease, timeout=5)
    assert await mutex.acquire(timeout=0.5) is False  # and our Mutex for the service's
    await aclient.unlock(held.key)
    assert await mutex.acquire(timeout=5)
    await mutex.release()
    await lease.revoke()


async def test_a_waiter_whose_first_answer_is_lost_still_gets_the_lock(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    """The transaction that puts the waiter's key is applied but its answer is lost
    (the connection breaks first): the client cannot know whether it was applied and
    does not repeat it, but the Mutex can (its compare makes a repeat harmless) and
    goes on waiting instead of failing."""
    name = prefix + b"lock"
    holder = AsyncMutex(aclient, name, ttl=TTL)
    assert await holder.acquire(timeout=5)
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=2) as behind_proxy,
            AsyncSession(behind_proxy, ttl=TTL) as session,
        ):
            waiter = AsyncMutex(session, name)
            got: list[bool] = []

            async def wait() -> None:
                got.append(await waiter.acquire(timeout=30))

            proxy.mute()  # the waiter's transaction goes through; its answer does not
            task = spawn(wait, name="waiter")
            deadline = time.monotonic() + 10
            while (await aclient.get(name + b"/", prefix=True, count_only=True)).count < 2:
                assert time.monotonic() < deadline, "the waiter's key was never put"
            proxy.down()
            proxy.up()
            await holder.release()
            await task.join(30)
            assert got == [True]
            assert waiter.key == name + b"/%x" % session.lease_id  # one key, made once
            await waiter.release()


async def test_waiter_cut_off_past_compaction_still_gets_the_lock(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    """A waiter whose watch on its predecessor cannot resume (the history it missed
    while cut off was compacted) looks again instead of failing with CompactedError."""
    name = prefix + b"lock"
    holder = AsyncMutex(aclient, name, ttl=TTL)
    assert await holder.acquire(timeout=5)
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with AsyncClient(proxy.endpoint, timeout=2) as behind_proxy:
            waiter = AsyncMutex(behind_proxy, name, ttl=TTL)
            got: list[bool] = []

            async def wait() -> None:
                got.append(await waiter.acquire(timeout=30))

            task = spawn(wait, name="waiter")
            deadline = time.monotonic() + 10
            while (await aclient.get(name + b"/", prefix=True, count_only=True)).count < 2:
                assert time.monotonic() < deadline, "the waiter never stood in line"
            proxy.down()  # the waiter is cut off while the holder goes...
            await holder.release()
            now = (await aclient.put(prefix + b"noise", "x")).header.revision
            await aclient.compact(now)  # ...and its watch's resume point is compacted away
            proxy.up()
            await task.join(30)
            assert got == [True]
            await waiter.release()
