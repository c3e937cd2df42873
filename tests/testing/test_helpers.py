"""etcd3py.testing's helpers, on both backends (server_ref and real etcd 3.5.1)."""

from __future__ import annotations

import threading

import pytest

from etcd3py import AsyncClient, Client, EventType
from etcd3py.recipes import AsyncMutex, Mutex
from etcd3py.testing import (
    AsyncEventRecorder,
    EventRecorder,
    WaitTimeout,
    assert_lock_held,
    async_assert_lock_held,
    async_wait_for_key,
    async_wait_until,
    wait_for_key,
    wait_until,
)


def test_wait_until_returns_the_first_true_answer() -> None:
    answers = iter([0, None, "", "ready", "later"])
    assert wait_until(lambda: next(answers)) == "ready"


def test_wait_until_fails_at_its_deadline_with_the_last_answer() -> None:
    looks: list[int] = []

    def items_left() -> int:
        looks.append(1)
        return 0

    with pytest.raises(
        WaitTimeout, match=r"the queue to fill did not hold within 0.05 s \(last: 0\)"
    ):
        wait_until(items_left, timeout=0.05, message="the queue to fill")
    assert len(looks) > 1  # asked again until the deadline


def test_wait_for_key_sees_a_later_write(client: Client, prefix: bytes) -> None:
    key = prefix + b"k"
    client.put(key, "old")
    writer = threading.Timer(0.05, lambda: client.put(key, "new"))
    writer.start()
    try:
        assert wait_for_key(client, key, "new").value == b"new"
    finally:
        writer.join()
    assert wait_for_key(client, key).value == b"new"  # already there: at once


def test_wait_for_key_fails_with_what_it_saw(client: Client, prefix: bytes) -> None:
    client.put(prefix + b"k", "old")
    with pytest.raises(WaitTimeout, match=r"did not get b'new' within 0.1 s \(last: b'old'\)"):
        wait_for_key(client, prefix + b"k", "new", timeout=0.1)
    with pytest.raises(WaitTimeout, match=r"any value.*\(last: absent\)"):
        wait_for_key(client, prefix + b"missing", timeout=0.1)


def test_event_recorder_records_changes_in_order(client: Client, prefix: bytes) -> None:
    client.put(prefix + b"before", "x")  # before it started: not recorded
    with EventRecorder(client, prefix) as recorder:
        client.put(prefix + b"a", "1")
        client.delete(prefix + b"a")
        client.put(b"elsewhere", "not under the prefix")
        events = recorder.wait_for(2)
        assert [(e.type, e.key) for e in events] == [
            (EventType.PUT, prefix + b"a"),
            (EventType.DELETE, prefix + b"a"),
        ]
        with pytest.raises(WaitTimeout, match=r"3 events .* recorded 2"):
            recorder.wait_for(3, timeout=0.1)
    client.put(prefix + b"after", "x")  # closed: not recorded
    assert len(recorder.events) == 2


def test_assert_lock_held_names_the_holder(client: Client, prefix: bytes) -> None:
    name = prefix + b"lock"
    with pytest.raises(AssertionError, match="is not held"):
        assert_lock_held(client, name)
    with Mutex(client, name) as first:
        waiter = Mutex(client, name)
        assert not waiter.try_acquire()  # queued behind: its key exists, not the holder
        holder = assert_lock_held(client, name, by=first)
        assert holder.key == first.key
        assert first.session is not None
        assert_lock_held(client, name, by=first.session.lease_id)
        assert_lock_held(client, name, by=first.key)
        with pytest.raises(AssertionError, match="is held by"):
            assert_lock_held(client, name, by=holder.lease + 1)
    assert waiter.acquire(timeout=5)
    assert_lock_held(client, name, by=waiter)
    waiter.release()


@pytest.mark.anyio
async def test_the_async_twins(aclient: AsyncClient, prefix: bytes) -> None:
    async with AsyncEventRecorder(aclient, prefix) as recorder:
        await aclient.put(prefix + b"k", "v")
        assert (await async_wait_for_key(aclient, prefix + b"k", "v")).value == b"v"
        (event,) = await recorder.wait_for(1)
        assert event.kv.value == b"v"

    async def has_key() -> bool:
        return (await aclient.get(prefix + b"k")).count == 1

    assert await async_wait_until(has_key) is True
    async with AsyncMutex(aclient, prefix + b"lock") as mutex:
        assert (await async_assert_lock_held(aclient, prefix + b"lock", by=mutex)).key == mutex.key
