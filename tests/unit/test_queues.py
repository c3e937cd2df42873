"""The hand-off queues of both faces (a watch's buffer, the lease and recipe inboxes).

Both are built for speed on the watch delivery path (a future per waiting get; a
queue.SimpleQueue), so what the slower versions gave for free is checked here: the
bound, FIFO order, timeouts, and a woken getter that leaves passing the item on.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from etcd3py._async._primitives import AsyncQueue
from etcd3py._sync._primitives import Empty, Full, Queue


def test_sync_queue_bound_order_and_timeout() -> None:
    q: Queue[int] = Queue(2)
    q.put_nowait(1)
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2
    with pytest.raises(Full):
        q.put_nowait(3)
    q.put_nowait(3, force=True)  # an end or an error always goes in
    assert [q.get(0), q.get_nowait(), q.get(None)] == [1, 2, 3]
    with pytest.raises(Empty):
        q.get_nowait()
    with pytest.raises(Empty):
        q.get(0.01)


def test_sync_queue_wakes_a_waiting_thread() -> None:
    q: Queue[str] = Queue()
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(q.get(10)))
    waiter.start()
    q.put_nowait("x")
    waiter.join(10)
    assert got == ["x"]


@pytest.mark.anyio
async def test_async_queue_bound_order_and_timeout() -> None:
    q: AsyncQueue[int] = AsyncQueue(2)
    q.put_nowait(1)
    q.put_nowait(2)
    with pytest.raises(Full):
        q.put_nowait(3)
    q.put_nowait(3, force=True)
    assert [await q.get(0), q.get_nowait(), await q.get()] == [1, 2, 3]
    for _ in range(3):
        with pytest.raises(Empty):
            await q.get(0.01)
    assert not q._getters  # a timed-out get leaves nothing behind


@pytest.mark.anyio
async def test_async_queue_wakes_getters_in_turn() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get(10))
    await asyncio.sleep(0)  # both wait now
    q.put_nowait(1)
    q.put_nowait(2)
    assert await asyncio.wait_for(asyncio.gather(first, second), 10) == [1, 2]


@pytest.mark.anyio
async def test_async_queue_woken_getter_that_leaves_passes_the_item_on() -> None:
    q: AsyncQueue[int] = AsyncQueue()
    leaving = asyncio.ensure_future(q.get())
    staying = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.put_nowait(1)  # wakes `leaving`, which is cancelled before it runs
    leaving.cancel()
    assert await asyncio.wait_for(staying, 10) == 1
    assert leaving.cancelled()
