"""etcd's Lock and Election services through the client, on both servers."""

from __future__ import annotations

import time

import pytest

from etcd3py import (
    ArgumentError,
    AsyncClient,
    DeadlineExceededError,
    ElectionNotLeaderError,
    InvalidArgumentError,
    LeaderKey,
    LeaseNotFoundError,
    WatchClosedError,
)
from etcd3py._async._primitives import sleep, spawn
from tests.conftest import Restartable

pytestmark = pytest.mark.anyio

WAIT = 10.0  # the longest any wait here may take


async def _until_count(aclient: AsyncClient, prefix: bytes, count: int) -> None:
    """Wait until ``count`` keys stand under ``prefix`` (a waiter has queued)."""
    deadline = time.monotonic() + WAIT
    while (await aclient.get(prefix, prefix=True, count_only=True)).count != count:
        assert time.monotonic() < deadline, f"never {count} keys under {prefix!r}"
        await sleep(0.01)


async def test_lock_waits_for_the_holder_in_order(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"lock"
    leases = [await aclient.grant(30) for _ in range(3)]
    first = await aclient.lock(name, leases[0])
    assert first.key == name + b"/%x" % leases[0].id
    assert (await aclient.get(first.key)).kvs[0].create_revision == first.header.revision
    again = await aclient.lock(name, leases[0].id)  # the same lease: the same key
    assert again.key == first.key
    order: list[bytes] = []

    async def wait(index: int) -> None:
        order.append((await aclient.lock(name, leases[index], timeout=WAIT)).key)

    second = spawn(wait, 1, name="second")
    await _until_count(aclient, name + b"/", 2)
    third = spawn(wait, 2, name="third")
    await _until_count(aclient, name + b"/", 3)
    assert order == []
    await aclient.unlock(first.key)
    await second.join(WAIT)
    assert order == [name + b"/%x" % leases[1].id]
    await leases[1].revoke()  # a holder's lease ending releases the lock too
    await third.join(WAIT)
    assert order[1:] == [name + b"/%x" % leases[2].id]
    await aclient.unlock(order[1])
    assert (await aclient.get(name + b"/", prefix=True)).count == 0
    for lease in (leases[0], leases[2]):
        await lease.revoke()


async def test_a_lock_wait_that_times_out_takes_its_key_back(
    aclient: AsyncClient, prefix: bytes
) -> None:
    name = prefix + b"lock"
    holder, waiter = await aclient.grant(30), await aclient.grant(30)
    held = await aclient.lock(name, holder)
    with pytest.raises(DeadlineExceededError):
        await aclient.lock(name, waiter, timeout=0.5)
    deadline = time.monotonic() + WAIT  # the server withdraws the waiter as it notices
    while (await aclient.get(name + b"/", prefix=True, keys_only=True)).count != 1:
        assert time.monotonic() < deadline, "the waiter's key stayed"
    assert [kv.key for kv in (await aclient.get(name + b"/", prefix=True)).kvs] == [held.key]
    await holder.revoke()
    await waiter.revoke()


async def test_lock_refuses_bad_input(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(ArgumentError, match=r"lease must be a lease id or a Lease.*Mutex"):
        await aclient.lock(prefix + b"lock", 0)
    with pytest.raises(ArgumentError, match=r"lease must be a lease id or a Lease.*Mutex"):
        await aclient.lock(prefix + b"lock")  # python-etcd3's habit: no lease
    with pytest.raises(TypeError, match="lease"):
        await aclient.lock(prefix + b"lock", "7")  # type: ignore[arg-type]
    with pytest.raises(LeaseNotFoundError):
        await aclient.lock(prefix + b"lock", 0x7E57, timeout=WAIT)
    with pytest.raises(InvalidArgumentError, match="empty"):
        await aclient.unlock(b"")
    await aclient.unlock(prefix + b"never-locked")  # nothing to release: no error
    assert (await aclient.get(prefix, prefix=True)).count == 0


async def test_campaign_proclaim_resign(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"election"
    assert await aclient.election_leader(name) is None
    lease = await aclient.grant(30)
    leader = await aclient.campaign(name, "v1", lease)
    assert leader == LeaderKey(name, name + b"/%x" % lease.id, leader.revision, lease.id)
    current = await aclient.election_leader(name)
    assert current is not None and (current.key, current.value) == (leader.key, b"v1")
    assert current.create_revision == leader.revision
    await aclient.proclaim(leader, "v2")
    current = await aclient.election_leader(name)
    assert current is not None and current.value == b"v2"
    # campaigning again with the same lease: the same candidacy, the value proclaimed
    assert await aclient.campaign(name, "v3", lease) == leader
    current = await aclient.election_leader(name)
    assert current is not None and current.value == b"v3"
    await aclient.resign(leader)
    assert await aclient.election_leader(name) is None
    with pytest.raises(ElectionNotLeaderError):
        await aclient.proclaim(leader, "v4")
    await aclient.resign(leader)  # resigning twice changes nothing
    await lease.revoke()


async def test_a_waiting_candidate_leads_when_the_leader_resigns(
    aclient: AsyncClient, prefix: bytes
) -> None:
    name = prefix + b"election"
    first, second = await aclient.grant(30), await aclient.grant(30)
    leader = await aclient.campaign(name, "a", first)
    won: list[LeaderKey] = []

    async def stand() -> None:
        won.append(await aclient.campaign(name, "b", second, timeout=WAIT))

    task = spawn(stand, name="second")
    await _until_count(aclient, name + b"/", 2)
    with pytest.raises(DeadlineExceededError):
        await aclient.campaign(name, "c", await aclient.grant(30), timeout=0.3)
    assert won == []
    await aclient.resign(leader)
    await task.join(WAIT)
    assert [key.lease for key in won] == [second.id]
    current = await aclient.election_leader(name)
    assert current is not None and current.value == b"b"
    await first.revoke()
    await second.revoke()


async def test_observe_follows_values_and_leaders(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"election"
    first, second = await aclient.grant(30), await aclient.grant(30)
    async with aclient.observe(name) as observer:
        assert await observer.get(timeout=0.3) is None  # nobody leads yet
        leader = await aclient.campaign(name, "a1", first)
        seen = await observer.get(timeout=WAIT)
        assert seen is not None and (seen.key, seen.value) == (leader.key, b"a1")
        await aclient.proclaim(leader, "a2")
        seen = await observer.get(timeout=WAIT)
        assert seen is not None and seen.value == b"a2"
        assert await observer.get(timeout=0.3) is None  # no change: nothing reported again

        async def stand() -> None:
            await aclient.campaign(name, "b1", second, timeout=WAIT)

        successor = spawn(stand, name="second")
        await _until_count(aclient, name + b"/", 2)
        await aclient.resign(leader)
        seen = await observer.get(timeout=WAIT)
        assert seen is not None and (seen.key, seen.value) == (name + b"/%x" % second.id, b"b1")
        await successor.join(WAIT)
        observer.close()
        with pytest.raises(WatchClosedError):
            await observer.get(timeout=WAIT)
        assert [kv async for kv in observer] == []  # iterating a closed observer just ends
    await first.revoke()
    await second.revoke()


async def test_observe_across_a_server_restart(restartable: Restartable, prefix: bytes) -> None:
    name = prefix + b"election"
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        lease = await client.grant(60)
        leader = await client.campaign(name, "before", lease)
        async with client.observe(name) as observer:
            seen = await observer.get(timeout=WAIT)
            assert seen is not None and seen.value == b"before"
            restartable.kill()
            restartable.revive()
            await client.proclaim(leader, "after")
            seen = await observer.get(timeout=WAIT)
            assert seen is not None and seen.value == b"after"
        await client.resign(leader)
        await lease.revoke()


async def test_close_ends_an_observation_in_progress(aclient: AsyncClient, prefix: bytes) -> None:
    observer = aclient.observe(prefix + b"nobody-stands")
    seen: list[object] = []

    async def observe() -> None:
        try:
            seen.append(await observer.get(timeout=WAIT))
        except WatchClosedError as closed:
            seen.append(closed)

    task = spawn(observe, name="observer")
    await sleep(0.3)  # the observer waits on the stream
    observer.close()
    await task.join(WAIT)
    assert len(seen) == 1 and isinstance(seen[0], WatchClosedError)
