"""A holder or leader is told of its loss at once, on both servers.

The faults are real: the key deleted by another client (or by etcdctl), the lease
revoked by another client, every lease expired (server_ref's clock control), the
connection cut, the history compacted while cut off. Each loss must flip
``held``/``is_leader`` and run the ``on_lost`` callbacks well before the session's
keep-alive (every TTL/3) could have noticed: the TTL here is long, so only the
watch on the key can tell in time. And writes fenced by ``guard()`` apply nothing
once the hold is gone; ``safe_until`` follows the lease's confirmed expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator

import pytest

from etcd3py import (
    AsyncClient,
    ElectionNotLeaderError,
    LockNotHeldError,
    Put,
    Value,
)
from etcd3py._async._primitives import AsyncFlag, spawn
from etcd3py.recipes import AsyncElection, AsyncMutex, AsyncRWMutex, AsyncSemaphore, AsyncSession
from etcd3py.server_ref import EmbeddedServer
from tests.support.backends import Backend
from tests.support.etcdctl import etcdctl
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

TTL = 30  # the keep-alive path would take up to TTL/3 = 10 s to notice
WAIT = 10.0


class Losses:
    """Records ``on_lost`` calls: their reasons, and when the first came."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.at: float | None = None
        self.told = AsyncFlag()

    def __call__(self, reason: str) -> None:
        if self.at is None:
            self.at = time.monotonic()
        self.reasons.append(reason)
        self.told.set()


async def logged(caplog: pytest.LogCaptureFixture, text: str, losses: Losses) -> None:
    """Wait until the recipes logged ``text`` (the watcher's progress), with no loss."""
    deadline = time.monotonic() + WAIT
    while not any(text in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, f"never logged: {text}"
        assert await losses.told.wait(0.05) is False


@pytest.fixture
async def mine(backend: Backend) -> AsyncIterator[AsyncClient]:
    """The holder's own client: the faults come from ``aclient``, another one."""
    async with AsyncClient(backend.endpoint) as client:
        yield client


async def test_a_deleted_key_is_told_at_once(
    mine: AsyncClient, aclient: AsyncClient, prefix: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etcd3py.recipes")
    data = prefix + b"data"
    holder = AsyncMutex(mine, prefix + b"lock", ttl=TTL)
    assert await holder.acquire(timeout=WAIT)
    losses = Losses()
    holder.on_lost(losses)
    await logged(caplog, "watched from revision", losses)  # told by the watch, then
    fenced = holder.guard()
    assert (await fenced.put(data, "first")).header.revision > 0
    started = time.monotonic()
    await aclient.delete(holder.key)
    assert await losses.told.wait(WAIT)
    assert losses.at is not None and losses.at - started < TTL / 3
    assert not holder.held and holder.safe_until is None
    assert len(losses.reasons) == 1 and "deleted at revision" in losses.reasons[0]
    with pytest.raises(LockNotHeldError, match="deleted at revision"):
        holder.is_owner()
    with pytest.raises(LockNotHeldError):
        await fenced.put(data, "stale")
    assert (await aclient.get(data)).value == b"first"  # the fenced write applied nothing
    late = Losses()
    holder.on_lost(late)  # registered after the loss: told at once
    assert late.reasons == losses.reasons
    with pytest.raises(LockNotHeldError, match="lost while held"):
        await holder.release()
    assert losses.reasons == late.reasons  # told once, not again at release


async def test_a_revoked_lease_is_told_before_the_keep_alive(
    mine: AsyncClient, aclient: AsyncClient, prefix: bytes
) -> None:
    async with AsyncSession(mine, ttl=TTL) as session:
        holder = AsyncMutex(session, prefix + b"lock")
        assert await holder.acquire(timeout=WAIT)
        losses = Losses()
        holder.on_lost(losses)
        started = time.monotonic()
        await aclient.revoke(session.lease_id)  # another client: ours learns by the watch
        assert await losses.told.wait(WAIT)
        assert losses.at is not None and losses.at - started < TTL / 3
        assert not holder.held
        # told by the watch, or by the keep-alive if its first renewal went out just then
        assert len(losses.reasons) == 1
        assert "deleted" in losses.reasons[0] or "lease was lost" in losses.reasons[0]
        waiter = AsyncMutex(aclient, prefix + b"lock", ttl=TTL)
        assert await waiter.acquire(timeout=WAIT)  # nobody else holds it
        await waiter.release()


async def test_every_lease_expired(
    mine: AsyncClient, backend: Backend, request: pytest.FixtureRequest, prefix: bytes
) -> None:
    if backend.kind != "server_ref":
        pytest.skip("only server_ref can expire leases on demand (etcd: see the revoke test)")
    server: EmbeddedServer = request.getfixturevalue("ref_server")
    holder = AsyncMutex(mine, prefix + b"lock", ttl=TTL)
    leader = AsyncElection(mine, prefix + b"election", ttl=TTL)
    assert await holder.acquire(timeout=WAIT) and await leader.campaign("me", timeout=WAIT)
    held_lost, lead_lost = Losses(), Losses()
    holder.on_lost(held_lost)
    leader.on_lost(lead_lost)
    server.expire_leases()
    assert await held_lost.told.wait(WAIT) and await lead_lost.told.wait(WAIT)
    assert not holder.held and not leader.is_leader
    await leader.resign()
    with pytest.raises(LockNotHeldError):
        await holder.release()


async def test_rwmutex_and_semaphore_keys_deleted_by_etcdctl(
    mine: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    reader = AsyncRWMutex(mine, prefix + b"rw", ttl=TTL).read_lock()
    permit = AsyncSemaphore(mine, prefix + b"sem", limit=2, ttl=TTL)
    assert await reader.acquire(timeout=WAIT) and await permit.acquire(timeout=WAIT)
    for hold in (reader, permit):
        losses = Losses()
        hold.on_lost(losses)
        etcdctl(backend.endpoint, "del", hold.key.decode())
        assert await losses.told.wait(WAIT)
        assert not hold.held and "deleted" in losses.reasons[0]
        with pytest.raises(LockNotHeldError):
            await hold.release()


async def test_a_leader_whose_key_is_deleted_stops_leading(
    mine: AsyncClient, aclient: AsyncClient, prefix: bytes
) -> None:
    name, data = prefix + b"election", prefix + b"data"
    leader = AsyncElection(mine, name, ttl=TTL)
    assert await leader.campaign("me", timeout=WAIT) and leader.is_leader
    losses = Losses()
    leader.on_lost(losses)
    async with leader.guard() as fenced:
        await fenced.put(data, "led")
        started = time.monotonic()
        await aclient.delete(leader.key)
        assert await losses.told.wait(WAIT)
        assert losses.at is not None and losses.at - started < TTL / 3
        assert not leader.is_leader and leader.safe_until is None
        with pytest.raises(ElectionNotLeaderError, match="deleted"):
            await fenced.put(data, "stale")
    with pytest.raises(ElectionNotLeaderError):
        await leader.proclaim("still me?")
    assert (await aclient.get(data)).value == b"led"
    await leader.resign()
    successor = AsyncElection(aclient, name, ttl=TTL)
    assert await successor.campaign("next", timeout=WAIT)
    await successor.resign()


async def test_a_release_is_no_loss(mine: AsyncClient, aclient: AsyncClient, prefix: bytes) -> None:
    holder = AsyncMutex(mine, prefix + b"lock", ttl=TTL)
    with pytest.raises(LockNotHeldError):
        holder.on_lost(Losses())  # nothing held yet
    losses = Losses()
    async with holder:
        holder.on_lost(losses)
    leader = AsyncElection(mine, prefix + b"election", ttl=TTL)
    assert await leader.campaign("me", timeout=WAIT)
    leader.on_lost(losses)
    await leader.resign()
    # the keys went with the releases, and the next holders get in: nobody was told
    assert await losses.told.wait(0.5) is False and losses.reasons == []
    assert (await aclient.get(prefix, prefix=True, count_only=True)).count == 0


async def test_a_lock_that_waited_is_watched_from_its_wait(
    mine: AsyncClient, aclient: AsyncClient, prefix: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock that has to wait watches its key from the start of the wait: the read
    that finds it first in line covers what came before the watch, so winning costs
    no read of its own, and a loss the moment it wins is still told by the watch."""
    caplog.set_level(logging.DEBUG, logger="etcd3py.recipes")
    first = AsyncMutex(aclient, prefix + b"lock", ttl=TTL)
    assert await first.acquire(timeout=WAIT)
    async with AsyncSession(mine, ttl=TTL) as session:
        waiter = AsyncMutex(session, prefix + b"lock")
        key = repr(prefix + b"lock/%x" % session.lease_id)
        got: list[bool] = []

        async def wait() -> None:
            got.append(await waiter.acquire(timeout=WAIT))

        waiting = spawn(wait, name="waiter")
        losses = Losses()
        await logged(caplog, f"{key} watched from revision", losses)  # while it waits
        assert not waiting.done()
        await first.release()
        await waiting.join(WAIT)
        assert got == [True]
        waiter.on_lost(losses)
        await aclient.delete(waiter.key)
        assert await losses.told.wait(WAIT)
        assert len(losses.reasons) == 1 and "deleted at revision" in losses.reasons[0]
        assert not waiter.held
        assert not any(f"{key} read after" in r.getMessage() for r in caplog.records)
        with pytest.raises(LockNotHeldError, match="lost while held"):
            await waiter.release()


async def test_the_next_hold_of_a_key_keeps_its_watch(
    mine: AsyncClient, aclient: AsyncClient, prefix: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A release deletes the key and its watch sees it go: the watch is kept for the
    same key's next hold (one session taking the same lock again), which ignores
    what the watch saw of the earlier hold and is still told of its own loss."""
    caplog.set_level(logging.DEBUG, logger="etcd3py.recipes")
    async with AsyncSession(mine, ttl=TTL) as session:
        key = repr(prefix + b"lock/%x" % session.lease_id)

        def watched() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.getMessage().startswith(key + " watched")
            ]

        losses = Losses()
        async with AsyncMutex(session, prefix + b"lock") as holder:
            holder.on_lost(losses)
            await logged(caplog, f"{key} watched from revision", losses)
        # the watch is kept once it saw the release's deletion: a hold that came
        # sooner would make a watch of its own (correct, but not what is tested here)
        await logged(caplog, f"{key} watch kept for the next hold", losses)
        second = AsyncMutex(session, prefix + b"lock")
        assert await second.acquire(timeout=WAIT)
        second.on_lost(losses)
        deadline = time.monotonic() + WAIT
        while len(watched()) < 2:  # the second hold's watcher took the kept watch
            assert time.monotonic() < deadline, "the second hold was never watched"
            assert await losses.told.wait(0.05) is False
        assert watched()[0] == watched()[1]  # the same watch: from the same revision
        assert second.held and losses.reasons == []  # the first release is no loss
        await aclient.delete(second.key)
        assert await losses.told.wait(WAIT)
        assert len(losses.reasons) == 1 and "deleted at revision" in losses.reasons[0]
        assert not second.held
        with pytest.raises(LockNotHeldError, match="lost while held"):
            await second.release()


async def test_a_cut_connection_is_no_loss(
    aclient: AsyncClient, backend: Backend, prefix: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etcd3py.recipes")
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with AsyncClient(proxy.endpoint, timeout=2) as behind_proxy:
            holder = AsyncMutex(behind_proxy, prefix + b"lock", ttl=TTL)
            assert await holder.acquire(timeout=WAIT)
            losses = Losses()
            holder.on_lost(losses)
            key = holder.key
            await logged(caplog, "watched from revision", losses)  # its watch is in place
            proxy.down()
            await aclient.put(prefix + b"noise", "x")  # history moves on meanwhile
            assert holder.held
            proxy.up()
            assert holder.held and losses.reasons == []
            await aclient.delete(key)  # the resumed watch sees it go
            assert await losses.told.wait(WAIT)
            assert "deleted at revision" in losses.reasons[0]
            assert not any("read again" in r.getMessage() for r in caplog.records)
            with pytest.raises(LockNotHeldError):
                await holder.release()


async def test_compacted_while_cut_off_and_still_ours(
    aclient: AsyncClient, backend: Backend, prefix: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etcd3py.recipes")
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with AsyncClient(proxy.endpoint, timeout=2) as behind_proxy:
            holder = AsyncMutex(behind_proxy, prefix + b"lock", ttl=TTL)
            assert await holder.acquire(timeout=WAIT)
            losses = Losses()
            holder.on_lost(losses)
            key = holder.key
            await logged(caplog, "watched from revision", losses)  # its watch is in place
            proxy.down()
            await aclient.put(prefix + b"noise", "x")
            now = (await aclient.put(prefix + b"noise", "y")).header.revision
            await aclient.compact(now)  # the watch cannot resume where it was
            proxy.up()
            await logged(caplog, "still ours", losses)
            assert holder.held and losses.reasons == []  # the key read again: still ours
            await aclient.delete(key)  # and it is watched again from there
            assert await losses.told.wait(WAIT)
            assert "deleted" in losses.reasons[0]
            with pytest.raises(LockNotHeldError):
                await holder.release()


async def test_deleted_and_compacted_while_cut_off(
    aclient: AsyncClient, backend: Backend, prefix: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="etcd3py.recipes")
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with AsyncClient(proxy.endpoint, timeout=2) as behind_proxy:
            leader = AsyncElection(behind_proxy, prefix + b"election", ttl=TTL)
            assert await leader.campaign("me", timeout=WAIT)
            losses = Losses()
            leader.on_lost(losses)
            await logged(caplog, "watched from revision", losses)  # its watch is in place
            proxy.down()
            await aclient.delete(leader.key)
            now = (await aclient.put(prefix + b"noise", "x")).header.revision
            await aclient.compact(now)  # the deletion's event is gone with the history
            proxy.up()
            assert await losses.told.wait(WAIT)
            assert not leader.is_leader and "found gone" in losses.reasons[0]
            await leader.resign()


async def test_guarded_writes(mine: AsyncClient, aclient: AsyncClient, prefix: bytes) -> None:
    a, b = prefix + b"a", prefix + b"b"
    holder = AsyncMutex(mine, prefix + b"lock", ttl=TTL)
    with pytest.raises(LockNotHeldError):
        holder.guard()  # nothing held
    async with holder, holder.guard() as fenced:
        await fenced.put(a, "1")
        await fenced.put(b, "2")
        assert (await fenced.delete(b, prev_kv=True)).prev_kvs[0].value == b"2"
        # your own compare decides between your branches; the hold guards both
        moved = await fenced.txn(compare=[Value(a) == "1"], success=[Put(a, "2")])
        assert moved.succeeded
        refused = await fenced.txn(compare=[Value(a) == "1"], success=[Put(a, "3")])
        assert not refused.succeeded
    assert (await aclient.get(a)).value == b"2" and (await aclient.get(b)).kvs == []
    with pytest.raises(LockNotHeldError):
        await fenced.put(a, "after release")
    assert (await aclient.get(a)).value == b"2"


async def test_a_fenced_write_that_finds_the_key_gone_is_a_loss(
    mine: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    """The write's compare fails before the watch has told: the hold is lost then."""
    holder = AsyncMutex(mine, prefix + b"lock", ttl=TTL)
    assert await holder.acquire(timeout=WAIT)
    losses = Losses()
    holder.on_lost(losses)
    fenced = holder.guard()
    backend.delete(holder.key)  # a blocking call: the watch has not told yet
    with pytest.raises(LockNotHeldError):
        await fenced.txn(success=[Put(prefix + b"data", "stale")])
    assert not holder.held
    # told once, by whichever saw it first: the write, or the watch (on its own
    # thread in the sync face, where it may still be running the callbacks)
    assert await losses.told.wait(WAIT) and len(losses.reasons) == 1
    assert (await mine.get(prefix + b"data")).kvs == []
    with pytest.raises(LockNotHeldError):
        await holder.release()


async def test_safe_until(mine: AsyncClient, aclient: AsyncClient, prefix: bytes) -> None:
    holder = AsyncMutex(mine, prefix + b"lock", ttl=TTL)
    assert holder.safe_until is None
    with pytest.raises(LockNotHeldError):
        holder.check_safe()
    before = time.monotonic()
    assert await holder.acquire(timeout=WAIT)
    losses = Losses()
    holder.on_lost(losses)
    first = holder.safe_until
    assert first is not None and before < first < time.monotonic() + TTL
    holder.check_safe(1.0)
    with pytest.raises(LockNotHeldError, match="not confirmed"):
        holder.check_safe(TTL)  # more than the lease can promise
    assert holder.session is not None
    await holder.session.lease.refresh()  # a confirmed renewal moves it on
    second = holder.safe_until
    assert second is not None and second > first
    await aclient.delete(holder.key)
    assert await losses.told.wait(WAIT)
    assert holder.safe_until is None
    with pytest.raises(LockNotHeldError, match="deleted"):
        holder.check_safe()
    with pytest.raises(LockNotHeldError):
        await holder.release()


async def test_safe_until_follows_the_keep_alive(mine: AsyncClient, prefix: bytes) -> None:
    """The session's own renewals (every TTL/3) move it on, with nothing else done."""
    holder = AsyncMutex(mine, prefix + b"lock", ttl=3)
    assert await holder.acquire(timeout=WAIT)
    losses = Losses()
    holder.on_lost(losses)
    first = holder.safe_until
    assert first is not None
    deadline = time.monotonic() + WAIT
    while (holder.safe_until or 0) <= first:
        assert time.monotonic() < deadline, "no renewal moved safe_until"
        assert await losses.told.wait(0.1) is False
    assert holder.held
    await holder.release()


def watcher_workers() -> set[object]:
    """The workers alive that watch owned keys (threads, or asyncio tasks)."""
    workers: set[object] = {t for t in threading.enumerate() if t.name == "etcd3py-owned-key"}
    with contextlib.suppress(RuntimeError):  # no event loop running: the sync face
        workers |= {t for t in asyncio.all_tasks() if t.get_name() == "etcd3py-owned-key"}
    return workers


async def test_holdings_in_a_row_reuse_the_watchers_workers(
    backend: Backend, prefix: bytes
) -> None:
    before = watcher_workers()  # (other clients' workers, idle)
    started: set[object] = set()  # (kept: no worker's identity is reused)
    async with AsyncClient(backend.endpoint) as fresh, AsyncSession(fresh, ttl=TTL) as session:
        for _ in range(20):
            async with AsyncMutex(session, prefix + b"lock") as holder:
                assert holder.held
                started |= watcher_workers() - before
    assert 0 < len(started) < 10  # not one each: workers are kept for the next holding
