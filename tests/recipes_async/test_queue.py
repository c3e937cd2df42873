"""Queue and PriorityQueue, on both servers: order, exactly-once claims, ack mode, faults."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etcd3py import (
    ArgumentError,
    ArgumentTypeError,
    AsyncClient,
    AsyncWatch,
    EtcdError,
    LeaseLostError,
    Put,
)
from etcd3py._async._primitives import spawn
from etcd3py.recipes._async._queue import AsyncJob, AsyncPriorityQueue, AsyncQueue
from etcd3py.recipes._async._session import AsyncSession
from tests.conftest import Restartable
from tests.support.backends import Backend

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent.parent
TTL = 5
WAIT = 30.0  # the longest any get of these tests may wait


async def test_fifo_and_timeout(aclient: AsyncClient, prefix: bytes) -> None:
    queue = AsyncQueue(aclient, prefix + b"jobs")
    for i in range(10):
        await queue.put(f"job-{i}")
    assert [await queue.get() for _ in range(10)] == [b"job-%d" % i for i in range(10)]
    started = time.monotonic()
    assert await queue.get(timeout=0.3) is None
    assert time.monotonic() - started >= 0.3
    await queue.put(b"")  # an empty value is an item too
    assert await queue.get(timeout=0) == b""


async def test_fifo_across_producers(aclient: AsyncClient, prefix: bytes) -> None:
    # each producer object caches where the tail was: every put finds it moved
    producers = [AsyncQueue(aclient, prefix + b"jobs") for _ in range(3)]
    for i in range(12):
        await producers[i % 3].put(str(i))
    consumer = AsyncQueue(aclient, prefix + b"jobs")
    assert [await consumer.get(timeout=WAIT) for _ in range(12)] == [
        str(i).encode() for i in range(12)
    ]


async def test_priority_order(aclient: AsyncClient, prefix: bytes) -> None:
    queue = AsyncPriorityQueue(aclient, prefix + b"p")
    for value, priority in [("a", 5), ("b", 1), ("c", 5), ("d", 0), ("e", 65535), ("f", 1)]:
        await queue.put(value, priority=priority)
    got = [await queue.get(timeout=WAIT) for _ in range(6)]
    assert got == [b"d", b"b", b"f", b"a", b"c", b"e"]  # lowest number first, then FIFO
    assert await queue.get(timeout=0) is None


async def test_priority_is_validated(aclient: AsyncClient, prefix: bytes) -> None:
    queue = AsyncPriorityQueue(aclient, prefix + b"p")
    for bad in (-1, 65536):
        with pytest.raises(ArgumentError, match="priority must be an int from 0 to 65535"):
            await queue.put("x", priority=bad)
    for wrong in ("1", 1.0, True, None):
        with pytest.raises(ArgumentTypeError, match="priority must be an int"):
            await queue.put("x", priority=wrong)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="name must be a non-empty name for the queue"):
        AsyncQueue(aclient, "")
    assert (await aclient.get(prefix, prefix=True)).count == 0  # nothing was written
    await queue.put("x", priority=1)
    with pytest.raises(EtcdError, match="is its name shared"):  # not a retry loop
        await AsyncQueue(aclient, prefix + b"p").put("y")


async def test_an_idle_get_reads_once_then_watches(
    aclient: AsyncClient, prefix: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[bytes] = []
    real_get = aclient.get

    async def counting_get(key: Any, **options: Any) -> Any:
        reads.append(key)
        return await real_get(key, **options)

    monkeypatch.setattr(aclient, "get", counting_get)
    queue = AsyncQueue(aclient, prefix + b"jobs")
    assert await queue.get(timeout=1.0) is None
    assert len(reads) == 1  # one look at the head, then a watch: no polling

    got: list[bytes | None] = []

    async def consume() -> None:
        got.append(await queue.get(timeout=WAIT))

    task = spawn(consume, name="consumer")
    deadline = time.monotonic() + 10
    while len(reads) < 2:  # the consumer has looked at the empty queue
        assert time.monotonic() < deadline, "the consumer never read the queue"
        await real_get(prefix + b"nothing")
    await AsyncQueue(aclient, prefix + b"jobs").put("wake up")
    await task.join(WAIT)
    assert got == [b"wake up"]


@pytest.mark.parametrize("items", [100, pytest.param(500, marks=pytest.mark.slow)])
async def test_each_item_exactly_once_4x4(aclient: AsyncClient, prefix: bytes, items: int) -> None:
    """4 producers, 4 consumers, ``items`` each (500: 10-25 s on server_ref, in-process)."""
    producers, consumers = 4, 4
    name = prefix + b"jobs"
    delivered: list[list[bytes]] = [[] for _ in range(consumers)]
    finished: list[int] = []

    async def produce(p: int) -> None:
        queue = AsyncQueue(aclient, name)
        for i in range(items):
            await queue.put(b"%d-%d" % (p, i))
        finished.append(p)

    async def consume(c: int) -> None:
        queue = AsyncQueue(aclient, name)
        while True:
            value = await queue.get(timeout=WAIT)
            assert value is not None, "a consumer starved"
            if value == b"stop":
                break
            delivered[c].append(value)
        finished.append(consumers + c)

    started = time.monotonic()
    tasks = [spawn(consume, c, name=f"consumer-{c}") for c in range(consumers)]
    makers = [spawn(produce, p, name=f"producer-{p}") for p in range(producers)]
    for task in makers:
        await task.join(120)
    assert sorted(finished) == list(range(producers)), "a producer failed"
    queue = AsyncQueue(aclient, name)
    assert await queue.join(timeout=60)  # every item taken
    for _ in range(consumers):
        await queue.put("stop")
    for task in tasks:
        await task.join(WAIT)
    elapsed = time.monotonic() - started
    assert len(finished) == producers + consumers, "a consumer failed"

    counts = Counter(v for values in delivered for v in values)
    expected = {b"%d-%d" % (p, i) for p in range(producers) for i in range(items)}
    assert set(counts) == expected and set(counts.values()) == {1}  # each exactly once
    for values in delivered:  # each consumer took each producer's items in put order
        for p in range(producers):
            mine = [int(v.split(b"-")[1]) for v in values if v.startswith(b"%d-" % p)]
            assert mine == sorted(mine)
    assert all(delivered), "a consumer got nothing"
    print(f"4x4x{items}: {elapsed:.1f}s")  # shown with pytest -s


async def test_ack_mode(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"jobs"
    async with AsyncQueue(aclient, name, ack=True, ttl=TTL) as first:
        second = AsyncQueue(aclient, name, ack=True, ttl=TTL)
        await first.put("a")
        await first.put("b")
        job = await first.get(timeout=WAIT)
        assert isinstance(job, AsyncJob) and job.value == b"a"
        other = await second.get(timeout=WAIT)
        assert other is not None and other.value == b"b"
        assert await second.get(timeout=0.3) is None  # both claimed: nothing to take
        # fencing: a write guarded by the claim applies only while it stands
        guarded = await aclient.txn(compare=[job.is_owner()], success=[Put(prefix + b"out", "a")])
        assert guarded.succeeded
        await job.release()  # given back undone: taken again at once
        again = await second.get(timeout=WAIT)
        assert again is not None and again.value == b"a"
        assert not await first.join(timeout=0.3)  # claimed is not done
        await again.ack()
        await other.ack()
        await other.ack()  # acking twice does nothing
        assert await first.join(timeout=WAIT)
        await second.close()
    assert (await aclient.get(name + b"/", prefix=True)).count == 0  # nothing left behind


async def test_ack_mode_priority_queue(aclient: AsyncClient, prefix: bytes) -> None:
    async with AsyncPriorityQueue(aclient, prefix + b"p", ack=True, ttl=TTL) as queue:
        await queue.put("low", priority=9)
        await queue.put("high", priority=1)
        high = await queue.get(timeout=WAIT)
        low = await queue.get(timeout=WAIT)
        assert high is not None and low is not None
        assert (high.value, low.value) == (b"high", b"low")
        await low.release()
        low = await queue.get(timeout=WAIT)
        assert low is not None and low.value == b"low"
        await high.ack()
        await low.ack()
        assert await queue.get(timeout=0) is None


async def test_ack_claim_lost_with_the_session(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"jobs"
    async with AsyncSession(aclient, ttl=TTL) as session:
        dying = AsyncQueue(session, name, ack=True)
        await dying.put("work")
        job = await dying.get(timeout=WAIT)
        assert job is not None
        fence = job.is_owner()
        async with AsyncQueue(aclient, name, ack=True, ttl=TTL) as survivor:
            assert await survivor.get(timeout=0.3) is None  # claimed by a live consumer
            await aclient.revoke(session.lease_id)  # the consumer's lease expires
            again = await survivor.get(timeout=WAIT)
            assert again is not None and again.value == b"work"  # delivered again
            with pytest.raises(LeaseLostError):
                await job.ack()  # the first consumer learns it lost the item
            assert not (
                await aclient.txn(compare=[fence], success=[Put(prefix + b"x", "")])
            ).succeeded
            await again.ack()
            assert await survivor.join(timeout=WAIT)
        await dying.put("more")
        with pytest.raises(LeaseLostError):
            await dying.get(timeout=WAIT)  # a given session that is lost stays lost


async def test_ack_get_waiting_when_the_session_is_lost(
    aclient: AsyncClient, prefix: bytes
) -> None:
    async with AsyncSession(aclient, ttl=TTL) as session:
        queue = AsyncQueue(session, prefix + b"jobs", ack=True)
        errors: list[BaseException] = []

        async def consume() -> None:
            try:
                await queue.get(timeout=WAIT)
            except LeaseLostError as error:
                errors.append(error)

        task = spawn(consume, name="consumer")
        await aclient.revoke(session.lease_id)  # before or while it waits: the same error
        await task.join(WAIT)
        assert len(errors) == 1


async def _next_value(signals: AsyncWatch, pending: list[bytes]) -> bytes:
    while not pending:
        pending.extend(e.value for e in await signals.events(timeout=WAIT))
    return pending.pop(0)


@pytest.mark.parametrize("ack", [False, True], ids=["at_most_once", "ack"])
async def test_a_consumer_killed_mid_run(
    aclient: AsyncClient,
    backend: Backend,
    prefix: bytes,
    ack: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A consumer process is SIGKILLed while it holds an item, unfinished.

    At most once: that item is lost -- delivered once, to the dead consumer -- and
    nothing else is. Ack: it is delivered again, after the dead consumer's lease
    expires, and every item is acked exactly once.
    """
    producers, consumers, items, worker_ttl = 4, 3, 100, 2
    name, signal = prefix + b"jobs", prefix + b"worker"
    delivered: list[bytes] = []
    acked: list[bytes] = []
    finished: list[str] = []

    async def consume(c: int) -> None:
        if ack:
            jobs = AsyncQueue(aclient, name, ack=True, ttl=TTL)
            while True:
                job = await jobs.get(timeout=WAIT)
                assert job is not None, "a consumer starved"
                delivered.append(job.value)
                await job.ack()
                if job.value == b"stop":
                    break
                acked.append(job.value)
            await jobs.close()
        else:
            queue = AsyncQueue(aclient, name)
            while True:
                value = await queue.get(timeout=WAIT)
                assert value is not None, "a consumer starved"
                if value == b"stop":
                    break
                delivered.append(value)
        finished.append(f"consumer-{c}")

    async def produce(p: int) -> None:
        queue = AsyncQueue(aclient, name)
        for i in range(items):
            await queue.put(b"%d-%d" % (p, i))
        finished.append(f"producer-{p}")

    command = [sys.executable, "-m", "tests.support.queue_worker", backend.endpoint]
    command += [name.decode(), "ack" if ack else "plain", "5", signal.decode(), str(worker_ttl)]
    pending: list[bytes] = []
    async with aclient.watch(signal) as signals:
        worker = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert await _next_value(signals, pending) == b"ready"
            tasks = [spawn(consume, c, name=f"consumer-{c}") for c in range(consumers)]
            tasks += [spawn(produce, p, name=f"producer-{p}") for p in range(producers)]
            held = await _next_value(signals, pending)
            worker.kill()
            out, _ = worker.communicate(timeout=WAIT)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(WAIT)
    lines = [line.split(" ", 1) for line in out.splitlines()]
    worker_done = [value.encode() for word, value in lines if word == "done"]
    assert lines[-1] == ["holding", held.decode()] and len(worker_done) == 5

    for task in tasks[consumers:]:
        await task.join(120)
    queue = AsyncQueue(aclient, name)
    assert await queue.join(timeout=WAIT)  # in ack mode: once the held item is acked
    for _ in range(consumers):
        await queue.put("stop")
    for task in tasks[:consumers]:
        await task.join(WAIT)
    assert len(finished) == producers + consumers, f"a task failed: {finished}"

    everything = {b"%d-%d" % (p, i) for p in range(producers) for i in range(items)}
    if ack:
        acks = Counter(acked + worker_done)
        assert set(acks) == everything and set(acks.values()) == {1}  # acked exactly once
        deliveries = Counter(delivered + worker_done + [held])
        assert set(deliveries) == everything | {b"stop"}  # each delivered at least once
        assert deliveries[held] == 2 and held in acked  # the held one, again, to a live one
    else:
        deliveries = Counter(delivered + worker_done + [held])
        assert set(deliveries) == everything and set(deliveries.values()) == {1}
        finished_items = set(delivered + worker_done)
        assert everything - finished_items == {held}  # lost: only what the dead one held


async def test_waiting_get_survives_a_server_restart(
    restartable: Restartable, prefix: bytes
) -> None:
    name = prefix + b"jobs"
    async with (
        AsyncClient(restartable.endpoint, timeout=5) as client,
        AsyncQueue(client, name, ack=True, ttl=10) as first,
    ):
        await first.put("before")
        held = await first.get(timeout=WAIT)
        assert held is not None and held.value == b"before"
        got: list[bytes] = []

        async def consume() -> None:
            async with AsyncQueue(client, name, ack=True, ttl=10) as second:
                job = await second.get(timeout=WAIT)  # waits: "before" is claimed
                assert job is not None
                got.append(job.value)
                await job.ack()

        task = spawn(consume, name="consumer")
        restartable.kill()
        restartable.revive()
        await first.put("after")
        await task.join(WAIT)
        assert got == [b"after"]
        await held.ack()  # the claim outlived the restart (within its TTL)
        assert await first.join(timeout=WAIT)


@pytest.mark.parametrize("ack", [False, True], ids=["default", "ack"])
async def test_a_get_whose_watch_starts_below_the_compaction_looks_again(
    aclient: AsyncClient, backend: Backend, prefix: bytes, ack: bool
) -> None:
    """An item put and the history compacted between a get's read of the empty queue
    and the start of its watch: the get reads the queue again and takes the item,
    instead of failing with CompactedError (a robustness run saw a consumer fail so)."""
    name = prefix + b"jobs"
    async with AsyncClient(backend.endpoint, timeout=5) as consumer_client:
        first_read = True

        async def read_then_compact(read: Any, *args: Any, **options: Any) -> Any:
            nonlocal first_read
            response = await read(*args, **options)
            if first_read:  # the queue was empty: the get will watch from this revision
                first_read = False
                await AsyncQueue(aclient, name).put("meanwhile")
                now = (await aclient.put(prefix + b"noise", "x")).header.revision
                await aclient.compact(now)
            return response

        real_get, real_txn = consumer_client.get, consumer_client.txn

        async def get(*args: Any, **options: Any) -> Any:
            return await read_then_compact(real_get, *args, **options)

        async def txn(*args: Any, **options: Any) -> Any:
            return await read_then_compact(real_txn, *args, **options)

        consumer = AsyncQueue(consumer_client, name, ack=ack, ttl=TTL)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(consumer_client, "get", get)  # ack mode reads the head by txn
            patch.setattr(consumer_client, "txn", txn)
            item = await consumer.get(timeout=WAIT)
        assert item is not None
        assert (item.value if isinstance(item, AsyncJob) else item) == b"meanwhile"
        if isinstance(item, AsyncJob):
            await item.ack()
            await consumer.close()
