"""The consistent cache, on both servers: list then watch, bookmarks, relists, faults."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from etcd3py import AsyncClient, ClientClosedError, EtcdError, Put, WatchClosedError
from etcd3py._async._primitives import sleep
from etcd3py.recipes import AsyncCache, CacheChange, CachedKV
from etcd3py.server_ref import EmbeddedServer
from tests.support.backends import Backend
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

WAIT = 20.0  # the longest any wait of the fault tests may take


def values(cache: AsyncCache) -> dict[bytes, bytes]:
    return {k: e.value for k, e in cache.snapshot().items()}


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` (bounded): for a state the cache reaches on its own."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await sleep(0.05)
    return True


async def test_lists_then_follows_every_change(aclient: AsyncClient, prefix: bytes) -> None:
    p = prefix + b"jobs/"
    await aclient.put(p + b"a", "1")
    created = (await aclient.put(p + b"b", "2")).header.revision
    await aclient.put(prefix + b"elsewhere", "not mine")
    seen: list[CacheChange] = []
    async with AsyncCache(aclient, p, page_size=1) as cache:  # one key a page
        cache.on_change(seen.append)
        first = cache.snapshot()
        assert {k: e.value for k, e in first.items()} == {p + b"a": b"1", p + b"b": b"2"}
        assert first.revision >= created and cache.get(p + b"b") == CachedKV(
            p + b"b", b"2", created, created, 1, 0
        )
        put = (await aclient.put(p + b"a", "changed")).header.revision
        deleted = (await aclient.delete(p + b"b")).header.revision
        assert await cache.wait_for(deleted, timeout=10)
        assert values(cache) == {p + b"a": b"changed"} and cache.revision == deleted
        assert first.revision < put and len(first) == 2  # a snapshot does not move
        assert [(c.revision, list(c.changed), list(c.deleted)) for c in seen] == [
            (put, [p + b"a"], []),
            (deleted, [], [p + b"b"]),
        ]
        assert seen[1].deleted[p + b"b"].value == b"2"  # as the cache last held it
        assert seen[0].changed[p + b"a"].version == 2 and seen[0].relisted is None
        assert not await cache.wait_for(deleted + 10**6, timeout=0.2)


async def test_a_quiet_range_is_confirmed_by_a_probe(aclient: AsyncClient, prefix: bytes) -> None:
    await aclient.put(prefix + b"quiet/a", "1")
    async with AsyncCache(aclient, prefix + b"quiet/", probe_interval=3600) as cache:
        elsewhere = (await aclient.put(prefix + b"other", "x")).header.revision
        # no event in the range and no progress notice due: the probe says nothing changed
        assert await cache.wait_for(elsewhere, timeout=5)
        assert cache.revision >= elsewhere and values(cache) == {prefix + b"quiet/a": b"1"}
        mine = (await aclient.put(prefix + b"quiet/b", "2")).header.revision
        assert await cache.wait_for(mine, timeout=10)
        assert values(cache) == {prefix + b"quiet/a": b"1", prefix + b"quiet/b": b"2"}


async def test_index_and_change_iterator(aclient: AsyncClient, prefix: bytes) -> None:
    await aclient.put(prefix + b"n1", "eu")
    await aclient.put(prefix + b"n2", "us")
    cache = AsyncCache(aclient, prefix)
    cache.index("zone", lambda e: e.value.decode())
    cache.index("broken", lambda e: {"eu": 1}[e.value.decode()])  # raises for "us"
    async with cache:
        assert [e.key for e in cache.lookup("zone", "eu")] == [prefix + b"n1"]
        assert [e.key for e in cache.lookup("zone", "eu", "us")] == [prefix + b"n1", prefix + b"n2"]
        assert [e.key for e in cache.lookup("broken", 1)] == [prefix + b"n1"]
        changes = cache.changes()
        assert set(changes.snapshot) == {prefix + b"n1", prefix + b"n2"}
        moved = (await aclient.put(prefix + b"n2", "eu")).header.revision
        await aclient.delete(prefix + b"n1")
        first = await changes.get(timeout=10)
        assert first is not None and first.revision == moved
        second = await changes.get(timeout=10)
        assert second is not None and list(second.deleted) == [prefix + b"n1"]
        assert [e.key for e in cache.lookup("zone", "eu")] == [prefix + b"n2"]
        assert cache.lookup("zone", "us") == []
        assert [e.key for e in cache.lookup("broken", 1)] == [prefix + b"n2"]  # (went on)
        assert await changes.get(timeout=0.1) is None  # nothing yet
        with pytest.raises(RuntimeError, match="before the cache starts"):
            cache.index("late", lambda e: e.version)
    with pytest.raises(WatchClosedError):  # closing the cache ends its iterators
        await changes.get(timeout=1)
    assert [c async for c in changes] == []


async def test_relists_after_compaction_and_says_what_changed(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    await aclient.put(prefix + b"a", "1")
    await aclient.put(prefix + b"keep", "k")
    with TcpProxy(port_of(backend.endpoint)) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=2) as behind_proxy,
            AsyncCache(behind_proxy, prefix, probe_interval=0.5) as cache,
        ):
            changes = cache.changes()
            proxy.down()  # cut off while history moves on...
            await aclient.put(prefix + b"b", "2")
            await aclient.delete(prefix + b"a")
            now = (await aclient.put(prefix + b"c", "3")).header.revision
            await aclient.compact(now)  # ...and is compacted: the watch cannot resume
            assert not await cache.wait_for(now, timeout=3)
            assert cache.stale  # it says so while it cannot reach the server
            proxy.up()
            assert await cache.wait_for(now, timeout=WAIT)
            assert values(cache) == {
                prefix + b"keep": b"k",
                prefix + b"b": b"2",
                prefix + b"c": b"3",
            }
            relist = await changes.get(timeout=WAIT)
            assert relist is not None and relist.relisted == "compacted"
            assert set(relist.changed) == {prefix + b"b", prefix + b"c"}
            assert set(relist.deleted) == {prefix + b"a"}
            assert not cache.stale


@pytest.mark.parametrize("noticed_by", ["progress notice", "probe"])
async def test_relists_when_the_revision_goes_backwards(
    backend: Backend, prefix: bytes, noticed_by: str
) -> None:
    """A server behind what the cache saw (as one that lost acknowledged writes): a
    resumed watch would skip the revisions it hands out again, so the cache relists."""
    async with AsyncClient(backend.endpoint) as ahead:
        await ahead.put(prefix + b"a", "new")
        await ahead.put(prefix + b"gone", "x")
        for _ in range(30):  # the cache's revision well past the other server's
            await ahead.put(prefix + b"busy", "x")
    interval = 0.3 if noticed_by == "progress notice" else 3600.0
    with EmbeddedServer(progress_notify_interval=interval) as behind:
        async with AsyncClient(behind.endpoint) as older:
            await older.put(prefix + b"a", "old")
        with TcpProxy(port_of(backend.endpoint)) as proxy:
            probe_interval = 3600.0 if noticed_by == "progress notice" else 0.3
            async with (
                AsyncClient(proxy.endpoint, timeout=2) as client,
                AsyncCache(client, prefix, probe_interval=probe_interval) as cache,
            ):
                changes = cache.changes()
                saw = cache.revision
                proxy.down()
                proxy.target_port = port_of(behind.endpoint)
                proxy.up()
                relist = await changes.get(timeout=WAIT)
                assert relist is not None and relist.relisted is not None
                assert relist.relisted.startswith("revision went backwards")
                assert cache.revision < saw
                assert values(cache) == {prefix + b"a": b"old"}
                assert set(relist.deleted) == {prefix + b"gone", prefix + b"busy"}
                # and it follows the server it is on now
                async with AsyncClient(behind.endpoint) as older:
                    now = (await older.put(prefix + b"b", "2")).header.revision
                assert await cache.wait_for(now, timeout=WAIT)
                assert values(cache) == {prefix + b"a": b"old", prefix + b"b": b"2"}


async def test_never_stale_silently(backend: Backend, prefix: bytes) -> None:
    client = AsyncClient(backend.endpoint)
    cache = AsyncCache(client, prefix)
    await cache.start()
    changes = cache.changes()
    await client.close()  # the watch ends with the client
    with pytest.raises(ClientClosedError):
        await cache.wait_for(10**9, timeout=10)
    with pytest.raises(ClientClosedError):
        cache.snapshot()
    with pytest.raises(ClientClosedError):
        await changes.get(timeout=10)
    await cache.close()


async def test_close_ends_a_wait(aclient: AsyncClient, prefix: bytes) -> None:
    cache = await AsyncCache(aclient, prefix).start()
    await cache.close()
    with pytest.raises(WatchClosedError):
        await cache.wait_for(10**9, timeout=10)
    assert len(cache.snapshot()) == 0  # the contents stay readable


async def test_a_consumer_too_far_behind_is_told(aclient: AsyncClient, prefix: bytes) -> None:
    async with AsyncCache(aclient, prefix) as cache:
        changes = cache.changes(buffer=2)
        for i in range(3):
            last = (await aclient.put(prefix + b"k", str(i))).header.revision
        assert await cache.wait_for(last, timeout=10)
        assert changes.fell_behind
        first, second = await changes.get(), await changes.get()
        assert first is not None and second is not None
        assert [c.changed[prefix + b"k"].value for c in (first, second)] == [b"0", b"1"]
        with pytest.raises(WatchClosedError, match="behind"):
            await changes.get(timeout=1)
        again = cache.changes()  # a new iterator starts from the state now
        assert again.snapshot[prefix + b"k"].value == b"2"


async def test_a_snapshot_never_holds_half_a_step(aclient: AsyncClient, prefix: bytes) -> None:
    """Each transaction writes a and b together: no snapshot may hold them apart (in the
    sync face, the cache applies steps on its own thread while the test reads)."""
    async with AsyncCache(aclient, prefix) as cache:
        snapshots = 0
        for i in range(150):
            last = (
                await aclient.txn(success=[Put(prefix + b"a", str(i)), Put(prefix + b"b", str(i))])
            ).header.revision
            for _ in range(20):
                view = cache.snapshot()
                if view:
                    snapshots += 1
                    assert view[prefix + b"a"].value == view[prefix + b"b"].value
                    assert view.revision == view[prefix + b"a"].mod_revision
        assert await cache.wait_for(last, timeout=10)
        assert snapshots > 0


async def test_says_it_is_stale_while_the_server_is_unreachable(
    backend: Backend, prefix: bytes
) -> None:
    with TcpProxy(port_of(backend.endpoint)) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=1) as client,
            AsyncCache(client, prefix, probe_interval=0.2) as cache,
        ):
            proxy.down()
            # (the check runs once the watch was silent for probe_interval; polled here)
            assert await until(lambda: cache.stale, WAIT)
            assert isinstance(cache.stale_reason, EtcdError)
            proxy.up()
            assert await until(lambda: not cache.stale, WAIT)
