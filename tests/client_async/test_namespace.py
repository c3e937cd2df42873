"""client.namespace(prefix): a view in which every key is relative to the prefix."""

from __future__ import annotations

import time

import pytest

from etcd3py import (
    AsyncClient,
    Delete,
    DeleteResponse,
    EmptyKeyError,
    EventType,
    Get,
    GetResponse,
    Put,
    PutResponse,
    Txn,
    TxnResponse,
    Value,
    Version,
)
from etcd3py._once import ONCE_PREFIX
from etcd3py.recipes import AsyncConfigWatcher, AsyncElection, AsyncMutex, AsyncQueue
from tests.support.backends import Backend
from tests.support.etcdctl import Background

pytestmark = pytest.mark.anyio


@pytest.fixture
def ns_prefix(prefix: bytes) -> bytes:
    return prefix + b"ns/"


@pytest.fixture
def ns(aclient: AsyncClient, ns_prefix: bytes) -> AsyncClient:
    return aclient.namespace(ns_prefix)


async def test_keys_go_in_with_the_prefix_and_come_back_without(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    assert ns.prefix == ns_prefix and aclient.prefix == b""
    await ns.put("a", "1")
    assert (await aclient.get(ns_prefix + b"a")).value == b"1"
    got = await ns.get("a")
    assert [kv.key for kv in got.kvs] == [b"a"]
    replaced = await ns.put("a", "2", prev_kv=True)
    assert replaced.prev_kv is not None and replaced.prev_kv.key == b"a"
    deleted = await ns.delete("a", prev_kv=True)
    assert [kv.key for kv in deleted.prev_kvs] == [b"a"]
    assert (await aclient.get(ns_prefix + b"a")).count == 0


async def test_an_empty_key_is_refused(ns: AsyncClient) -> None:
    with pytest.raises(EmptyKeyError):
        await ns.get("")
    with pytest.raises(EmptyKeyError):
        await ns.put("", "v")
    with pytest.raises(EmptyKeyError):
        await ns.delete("")


async def test_ranges_stay_inside_the_namespace(
    aclient: AsyncClient, ns: AsyncClient, prefix: bytes, ns_prefix: bytes
) -> None:
    outside = [prefix + b"nr", prefix + b"ns", ns_prefix, prefix + b"nt", prefix + b"ns0"]
    for key in outside:
        await aclient.put(key, "outside")
    await ns.put("a", "1")
    await ns.put(b"b\xff", "2")
    inside = [b"a", b"b\xff"]
    assert [kv.key for kv in await ns.get("", prefix=True)] == inside
    assert [kv.key for kv in await ns.get("", from_key=True)] == inside
    assert [kv.key for kv in await ns.get("a", from_key=True)] == inside
    assert [kv.key for kv in await ns.get("\0", range_end="\0")] == inside
    assert [kv.key for kv in await ns.get("b", prefix=True)] == [b"b\xff"]
    assert [kv.key for kv in await ns.get("a", range_end="b")] == [b"a"]
    assert (await ns.get("", prefix=True, count_only=True)).count == 2
    assert (await ns.delete("", prefix=True)).deleted == 2
    for key in outside:  # the key equal to the prefix is not in the view either
        assert (await aclient.get(key)).value == b"outside"


async def test_transactions_nested_compares_and_answers(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    await ns.put("a", "1")
    answer = await ns.txn(
        compare=[Value("a") == "1", Version("", prefix=True) > 0],
        success=[
            Put("b", "2", prev_kv=True),
            Get("", prefix=True),
            Txn([Version("a") > 0], [Delete("a", prev_kv=True), Get("b")], []),
        ],
        failure=[],
    )
    assert answer.succeeded
    put, got, nested = answer.responses
    assert isinstance(put, PutResponse) and put.prev_kv is None
    assert isinstance(got, GetResponse) and [kv.key for kv in got] == [b"a", b"b"]
    assert isinstance(nested, TxnResponse) and nested.succeeded
    deleted, read = nested.responses
    assert isinstance(deleted, DeleteResponse) and [kv.key for kv in deleted.prev_kvs] == [b"a"]
    assert isinstance(read, GetResponse) and read.kvs[0].key == b"b"
    parent = await aclient.get(ns_prefix, prefix=True)
    assert [kv.key for kv in parent] == [ns_prefix + b"b"]
    assert not (await ns.txn([Version("a") > 0], [], [])).succeeded  # deleted above


async def test_watch_events_are_relative(
    aclient: AsyncClient, ns: AsyncClient, prefix: bytes, ns_prefix: bytes
) -> None:
    async with ns.watch("", prefix=True, prev_kv=True) as watch:
        await aclient.put(prefix + b"nt", "outside")
        await aclient.put(ns_prefix + b"k", "1")
        await aclient.put(ns_prefix + b"k", "2")
        events = []
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            events += await watch.events(timeout=5)
    assert [(e.type, e.key, e.value) for e in events] == [
        (EventType.PUT, b"k", b"1"),
        (EventType.PUT, b"k", b"2"),
    ]
    assert events[1].prev_kv is not None and events[1].prev_kv.key == b"k"
    event = await ns.watch_once("k", timeout=0.2)
    assert event is None


async def test_lease_keys_are_those_of_the_view(
    aclient: AsyncClient, ns: AsyncClient, prefix: bytes, ns_prefix: bytes
) -> None:
    lease = await ns.grant(30)
    await ns.put("a", "1", lease=lease)
    await aclient.put(prefix + b"outside", "x", lease=lease)
    assert (await lease.time_to_live(keys=True)).keys == [b"a"]
    assert (await ns.time_to_live(lease.id, keys=True)).keys == [b"a"]
    everything = (await aclient.time_to_live(lease.id, keys=True)).keys
    assert sorted(everything) == [ns_prefix + b"a", prefix + b"outside"]
    await lease.revoke()


async def test_views_nest_and_closing_one_leaves_the_client_open(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    async with ns.namespace("a/") as inner:
        assert inner.prefix == ns_prefix + b"a/"
        await inner.put("k", "v")
        assert [kv.key for kv in await inner.get("", prefix=True)] == [b"k"]
    assert (await ns.get("a/k")).value == b"v"
    assert (await aclient.get(ns_prefix + b"a/k")).value == b"v"
    await ns.close()
    assert (await ns.get("a/k")).value == b"v"  # a view owns nothing to close


async def test_lock_and_election_services_in_a_view(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    async with aclient.lease(30) as lease:
        held = await ns.lock("l", lease)
        assert held.key == b"l/%x" % lease.id
        assert (await aclient.get(ns_prefix + held.key)).count == 1
        await ns.unlock(held.key)
        assert (await aclient.get(ns_prefix + held.key)).count == 0
        leader = await ns.campaign("e", "me", lease)
        assert leader.name == b"e" and leader.key == b"e/%x" % lease.id
        await ns.proclaim(leader, "me too")
        kv = await ns.election_leader("e")
        assert kv is not None and kv.key == leader.key and kv.value == b"me too"
        observer = ns.observe("e")
        seen = await observer.get(timeout=5)
        observer.close()
        assert seen is not None and seen.key == leader.key
        await ns.resign(leader)
        assert await ns.election_leader("e") is None


async def test_recipes_run_unchanged_on_a_view(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    mutex = AsyncMutex(ns, "lock", ttl=10)
    assert await mutex.acquire(timeout=5)
    assert mutex.key.startswith(b"lock/")
    assert (await aclient.get(ns_prefix + mutex.key)).count == 1
    other = AsyncMutex(ns, "lock", ttl=10)
    assert not await other.acquire(timeout=0.3)
    await mutex.release()
    assert await other.acquire(timeout=5)
    await other.release()
    election = AsyncElection(ns, "leader", ttl=10)
    assert await election.campaign(b"node-1", timeout=5)
    found = await election.leader()
    assert found is not None and found.key.startswith(b"leader/") and found.value == b"node-1"
    assert (await aclient.get(ns_prefix + found.key)).value == b"node-1"
    await election.resign()


async def test_etcdctl_lock_on_the_full_name_excludes_a_view_mutex(
    aclient: AsyncClient, backend: Backend, ns: AsyncClient, ns_prefix: bytes
) -> None:
    ctl = Background(backend.endpoint, "lock", (ns_prefix + b"lock").decode())
    try:
        assert ctl.read_lines(1)[0].startswith((ns_prefix + b"lock/").decode())
        mine = AsyncMutex(ns, "lock", ttl=10)
        assert not await mine.acquire(timeout=0.5)
        ctl.stop()  # etcdctl releases on SIGTERM
        assert await mine.acquire(timeout=10)
        await mine.release()
    finally:
        ctl.stop()


async def test_config_watcher_and_queue_on_a_view(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    await ns.put("config/db", "a")
    async with AsyncConfigWatcher(ns, "config/") as config:
        assert dict(config) == {"db": b"a"}
        changed = (await aclient.put(ns_prefix + b"config/db", "b")).header.revision
        assert await config.wait_for(changed, timeout=10)
        assert config["db"] == b"b"
    queue: AsyncQueue[bytes] = AsyncQueue(ns, "jobs")
    await queue.put(b"job-1")
    assert (await aclient.get(ns_prefix + b"jobs/", prefix=True)).count == 1
    assert await queue.get(timeout=5) == b"job-1"


async def test_put_once_in_a_view_keeps_its_marker_inside(
    aclient: AsyncClient, ns: AsyncClient, ns_prefix: bytes
) -> None:
    done = await ns.put_once("k", "v")
    assert done.succeeded and done.response is not None
    assert (await aclient.get(ns_prefix + b"k")).kvs[0].mod_revision == done.revision
    markers = await aclient.get(ns_prefix + ONCE_PREFIX, prefix=True, keys_only=True)
    assert markers.count == 1
