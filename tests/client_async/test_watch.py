"""Watches through the client: events, replay, filters, progress, fragments, back-pressure."""

from __future__ import annotations

import time
from typing import Any

import pytest

from etcd3py import (
    ArgumentError,
    AsyncClient,
    CompactedError,
    EventType,
    WatchClosedError,
    WatchResponse,
)
from etcd3py._async._primitives import sleep
from etcd3py._methods import WATCH
from tests.support.backends import Backend

pytestmark = pytest.mark.anyio


async def test_events(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    async with aclient.watch(k) as watch:
        r1 = (await aclient.put(k, "v1")).header.revision
        r2 = (await aclient.delete(k)).header.revision
        first = await watch.get(timeout=10)
        assert isinstance(first, WatchResponse) and not first.is_progress_notify
        (put,) = first.events
        assert (put.type, put.key, put.value, put.revision) == (EventType.PUT, k, b"v1", r1)
        assert put.kv.version == 1 and put.prev_kv is None
        (deleted,) = await watch.events(timeout=10)
        assert (deleted.type, deleted.key, deleted.revision) == (EventType.DELETE, k, r2)


async def test_prefix_replay_and_prev_kv(aclient: AsyncClient, prefix: bytes) -> None:
    start = (await aclient.put(prefix + b"a", "1")).header.revision
    await aclient.put(prefix + b"a", "2")
    await aclient.put(prefix + b"b", "3")
    async with aclient.watch(prefix, prefix=True, start_revision=start, prev_kv=True) as watch:
        seen = []
        while len(seen) < 3:
            seen.extend(await watch.events(timeout=10))
    assert [(e.key, e.value) for e in seen] == [
        (prefix + b"a", b"1"),
        (prefix + b"a", b"2"),
        (prefix + b"b", b"3"),
    ]
    assert seen[0].prev_kv is None
    assert seen[1].prev_kv is not None and seen[1].prev_kv.value == b"1"


async def test_filters(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    async with aclient.watch(k, filters=["noput"]) as deletes_only:
        await aclient.put(k, "v")
        await aclient.delete(k)
        (event,) = await deletes_only.events(timeout=10)
        assert event.type == EventType.DELETE


async def test_progress_notifications(aclient: AsyncClient, prefix: bytes) -> None:
    async with aclient.watch(prefix + b"k", progress_notify=True) as watch:
        current = (await aclient.put(prefix + b"other", "x")).header.revision
        resp = await watch.get(timeout=5)  # both servers notify every second in the suite
        assert resp is not None and resp.is_progress_notify and resp.events == []
        assert resp.header.revision >= current
        assert not resp.progress_requested  # the watch's own notice: a bookmark


async def test_request_progress(aclient: AsyncClient, prefix: bytes) -> None:
    async with aclient.watch(prefix + b"a") as a, aclient.watch(prefix + b"b") as b:
        current = (await aclient.put(prefix + b"other", "x")).header.revision
        await aclient.request_progress()
        for watch in (a, b):
            resp = await watch.get(timeout=10)
            assert resp is not None and resp.is_progress_notify
            assert resp.header.revision >= current
            assert resp.progress_requested  # etcd's answer to all (watch id -1): no bookmark


async def test_fragments_arrive_joined(aclient: AsyncClient, prefix: bytes) -> None:
    big = 700 * 1024
    start = (await aclient.put(prefix + b"0", b"a" * big)).header.revision
    await aclient.put(prefix + b"1", b"b" * big)
    await aclient.put(prefix + b"2", b"c" * big)
    async with aclient.watch(prefix, prefix=True, start_revision=start, fragment=True) as watch:
        resp = await watch.get(timeout=10)
        assert resp is not None
        assert [e.key for e in resp.events] == [prefix + b"0", prefix + b"1", prefix + b"2"]
        assert [len(e.value) for e in resp.events] == [big] * 3


async def test_cancel_ends_iteration(aclient: AsyncClient, prefix: bytes) -> None:
    watch = aclient.watch(prefix + b"k")
    await watch.start()
    await aclient.put(prefix + b"k", "v")
    received = []
    async for resp in watch:
        received.extend(resp.events)
        await watch.cancel()
    assert [e.value for e in received] == [b"v"]
    with pytest.raises(WatchClosedError):  # "closed" is not "nothing yet"
        await watch.get(timeout=1)
    assert [r async for r in watch] == []  # iterating a closed watch just ends


async def test_watch_once(aclient: AsyncClient, prefix: bytes) -> None:
    assert await aclient.watch_once(prefix + b"k", timeout=0.3) is None  # nothing yet
    rev = (await aclient.put(prefix + b"k", "old")).header.revision
    event = await aclient.watch_once(prefix + b"k", start_revision=rev, timeout=10)
    assert event is not None and (event.value, event.revision) == (b"old", rev)


async def test_compacted_start_revision(aclient: AsyncClient, prefix: bytes) -> None:
    old = (await aclient.put(prefix + b"k", "1")).header.revision
    now = (await aclient.put(prefix + b"k", "2")).header.revision
    await aclient.compact(now)
    async with aclient.watch(prefix + b"k", start_revision=old) as watch:
        with pytest.raises(CompactedError) as info:
            await watch.get(timeout=10)
        assert info.value.compact_revision == now
        assert f"compacted up to revision {now}" in str(info.value)
        with pytest.raises(WatchClosedError):  # and the watch is over
            await watch.get(timeout=1)


async def test_watches_share_one_stream(
    aclient: AsyncClient, prefix: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    transport = aclient._transport
    original = transport.open_stream

    async def counting(method: Any) -> Any:
        if method is WATCH:
            opened.append(method)
        return await original(method)

    monkeypatch.setattr(transport, "open_stream", counting)
    watches = [aclient.watch(prefix + b"%d" % i) for i in range(10)]
    for watch in watches:
        await watch.start()
    for i in range(10):
        await aclient.put(prefix + b"%d" % i, "v")
    for i, watch in enumerate(watches):
        (event,) = await watch.events(timeout=10)
        assert event.key == prefix + b"%d" % i
        await watch.cancel()
    assert len(opened) == 1


async def test_slow_consumer_loses_nothing(backend: Backend, prefix: bytes) -> None:
    async with AsyncClient(backend.endpoint, watch_buffer=4) as small:
        async with small.watch(prefix, prefix=True) as watch:
            revisions = [
                (await small.put(prefix + b"%03d" % i, "v")).header.revision for i in range(40)
            ]
            # nobody reads while 40 responses arrive for a buffer of 4
            await small.put(prefix + b"zz", "last")
            seen: list[int] = []
            while len(seen) < 41:
                seen.extend(e.revision for e in await watch.events(timeout=10))
        assert seen[:40] == revisions
        assert len(seen) == len(set(seen)) == 41


async def test_bad_watch_arguments(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(ArgumentError, match="filters must be one of 'nodelete', 'noput'"):
        aclient.watch(prefix, filters=["nothing"])
    with pytest.raises(ArgumentError, match="start_revision must be an int, at least 0, not -4"):
        aclient.watch(prefix, start_revision=-4)


async def test_a_quiet_watch_answers_nothing_yet(aclient: AsyncClient, prefix: bytes) -> None:
    """A wait that runs out is an answer, not an error: a `get(timeout)` loop survives
    a quiet minute, and is told apart from a closed watch."""
    async with aclient.watch(prefix + b"quiet") as watch:
        assert await watch.get(timeout=0.2) is None
        assert await watch.events(timeout=0.2) == []
        assert await watch.get(timeout=0) is None  # 0: just look
        await aclient.put(prefix + b"quiet", "now")
        events = await watch.events(timeout=10)
        assert [e.value for e in events] == [b"now"]
    with pytest.raises(WatchClosedError):
        await watch.get(timeout=0.2)


async def test_a_watch_cancelled_as_its_stream_ends_leaves_the_watch_loop_alive(
    aclient: AsyncClient, prefix: bytes
) -> None:
    """The last watch cancelled while the stream's call had just finished: the loop's
    farewell cancel cannot be sent, and must not end the loop (a robustness run saw
    "Task exception was never retrieved ... RPC already finished")."""
    async with aclient.watch(prefix) as first:
        manager = aclient._watches
        manager._stream.cancel()  # the call ends under the loop, as when a member goes
        await first.cancel()
        deadline = time.monotonic() + 10
        while manager._stream is not None:  # the loop closes the ended stream
            assert not manager._task.done(), "the watch loop ended"
            assert time.monotonic() < deadline, "the ended stream was never closed"
            await sleep(0.01)  # polling the loop's state under a deadline
    async with aclient.watch(prefix, prefix=True) as second:  # it serves the next watch
        await aclient.put(prefix + b"k", "v")
        assert [e.key for e in await second.events(timeout=10)] == [prefix + b"k"]
