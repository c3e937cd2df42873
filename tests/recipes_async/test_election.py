"""Election, on both servers: campaign, proclaim, resign, observe, etcdctl elect."""

from __future__ import annotations

import time

import pytest

from etcd3py import AsyncClient, ElectionNotLeaderError
from etcd3py._async._primitives import spawn
from etcd3py.recipes import AsyncElection, AsyncSession
from tests.support.backends import Backend
from tests.support.etcdctl import Background

pytestmark = pytest.mark.anyio

TTL = 5


async def test_campaign_proclaim_resign(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"election"
    first, second = AsyncElection(aclient, name, ttl=TTL), AsyncElection(aclient, name, ttl=TTL)
    assert await first.campaign("node-1") and first.is_leader
    leader = await first.leader()
    assert leader is not None and (leader.key, leader.value) == (first.key, b"node-1")
    assert not await second.campaign("node-2", timeout=0.3)
    assert not second.is_leader
    await first.proclaim("node-1 v2")
    leader = await second.leader()
    assert leader is not None and leader.value == b"node-1 v2"
    await first.resign()
    assert not first.is_leader
    with pytest.raises(ElectionNotLeaderError):
        await first.proclaim("late")
    assert await second.campaign("node-2", timeout=5)
    leader = await first.leader()
    assert leader is not None and leader.value == b"node-2"
    await second.resign()
    assert await first.leader() is None


async def test_waiting_candidate_takes_over(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"election"
    incumbent = AsyncElection(aclient, name, ttl=TTL)
    await incumbent.campaign("a")
    won: list[bytes] = []

    async def stand() -> None:
        challenger = AsyncElection(aclient, name, ttl=TTL)
        if await challenger.campaign("b", timeout=15):
            won.append(challenger.key)
            await challenger.resign()

    task = spawn(stand, name="challenger")
    deadline = time.monotonic() + 10
    while (await aclient.get(name + b"/", prefix=True)).count < 2:
        assert time.monotonic() < deadline, "the challenger never stood"
    await incumbent.resign()
    await task.join(20)
    assert len(won) == 1


async def test_observe_follows_every_change(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"election"
    first, second = AsyncElection(aclient, name, ttl=TTL), AsyncElection(aclient, name, ttl=TTL)
    async with first.observe() as observer:
        await first.campaign("v1")
        assert (await observer.get(timeout=10)).value == b"v1"  # type: ignore[union-attr]
        await first.proclaim("v2")
        assert (await observer.get(timeout=10)).value == b"v2"  # type: ignore[union-attr]
        task = spawn(second.campaign, "w1", 15, name="second")
        deadline = time.monotonic() + 10
        while (await aclient.get(name + b"/", prefix=True)).count < 2:
            assert time.monotonic() < deadline
        await first.resign()
        await task.join(20)
        assert (await observer.get(timeout=10)).value == b"w1"  # type: ignore[union-attr]
        # compaction of the history the observer watches does not stop it
        current = (await aclient.put(prefix + b"noise", "x")).header.revision
        await aclient.compact(current)
        await second.proclaim("w2")
        assert (await observer.get(timeout=10)).value == b"w2"  # type: ignore[union-attr]
        await second.resign()


async def test_leadership_ends_with_the_session(aclient: AsyncClient, prefix: bytes) -> None:
    name = prefix + b"election"
    async with AsyncSession(aclient, ttl=TTL) as session:
        leader = AsyncElection(session, name)
        await leader.campaign("doomed")
        await aclient.revoke(session.lease_id)
        assert await session.wait_lost(timeout=TTL + 2)
        assert not leader.is_leader
        with pytest.raises(ElectionNotLeaderError, match="session was lost"):
            await leader.proclaim("still me?")
    successor = AsyncElection(aclient, name, ttl=TTL)
    assert await successor.campaign("next", timeout=5)
    await successor.resign()


async def test_interoperates_with_etcdctl_elect(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    name = (prefix + b"election").decode()
    ours = AsyncElection(aclient, name, ttl=TTL)
    listener = Background(backend.endpoint, "elect", "--listen", name)
    ctl = Background(backend.endpoint, "elect", name, "from-etcdctl")
    try:
        key, value = ctl.read_lines(2)  # etcdctl leads
        assert key.startswith(name + "/") and value == "from-etcdctl"
        leader = await ours.leader()
        assert leader is not None and leader.value == b"from-etcdctl"
        assert not await ours.campaign("from-python", timeout=0.5)
        assert listener.read_lines(2) == [key, "from-etcdctl"]
        ctl.stop()  # etcdctl resigns: we lead, and etcdctl's observer sees it
        assert await ours.campaign("from-python", timeout=10)
        assert listener.read_lines(2) == [ours.key.decode(), "from-python"]
        await ours.proclaim("proclaimed")
        assert listener.read_lines(2) == [ours.key.decode(), "proclaimed"]
    finally:
        ctl.stop()
        listener.stop()
        await ours.resign()
