"""Election, on both servers: campaign, proclaim, resign, observe, etcdctl elect."""

from __future__ import annotations

import time

import pytest

from etcd3py import (
    AsyncClient,
    DeadlineExceededError,
    ElectionNotLeaderError,
    KeyValue,
    WatchClosedError,
)
from etcd3py._async._primitives import sleep, spawn
from etcd3py.recipes import AsyncElection, AsyncSession
from tests.conftest import Restartable
from tests.support.backends import Backend
from tests.support.etcdctl import Background
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

TTL = 5
WAIT = 20.0  # the longest any wait of the fault tests may take


async def _until_candidates(client: AsyncClient, name: bytes, count: int) -> None:
    """Wait until ``count`` candidates stand in election ``name``."""
    deadline = time.monotonic() + WAIT
    while (await client.get(name + b"/", prefix=True, count_only=True)).count != count:
        assert time.monotonic() < deadline, f"never {count} candidates in {name!r}"
        await sleep(0.01)


def _seen(kv: KeyValue | None) -> tuple[bytes, bytes]:
    assert kv is not None, "the observer ended"
    return kv.key, kv.value


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


async def test_a_candidate_whose_first_answer_is_lost_still_wins(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    """The campaign's transaction is applied but its answer is lost: the election
    repeats it (its compare makes that harmless) and goes on standing."""
    name = prefix + b"election"
    incumbent = AsyncElection(aclient, name, ttl=TTL)
    await incumbent.campaign("a")
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=2) as behind_proxy,
            AsyncSession(behind_proxy, ttl=TTL) as session,
        ):
            challenger = AsyncElection(session, name)
            won: list[bool] = []

            async def stand() -> None:
                won.append(await challenger.campaign("b", timeout=WAIT))

            proxy.mute()  # the campaign's transaction goes through; its answer does not
            task = spawn(stand, name="challenger")
            await _until_candidates(aclient, name, 2)
            proxy.down()
            proxy.up()
            await incumbent.resign()
            await task.join(WAIT)
            assert won == [True]
            assert _seen(await challenger.leader()) == (name + b"/%x" % session.lease_id, b"b")
            await challenger.resign()


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


async def test_waiting_candidate_survives_a_server_restart(
    restartable: Restartable, prefix: bytes
) -> None:
    name = prefix + b"election"
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        incumbent = AsyncElection(client, name, ttl=10)
        challenger = AsyncElection(client, name, ttl=10)
        await incumbent.campaign("a")
        won: list[bool] = []

        async def stand() -> None:
            won.append(await challenger.campaign("b", timeout=WAIT))

        task = spawn(stand, name="challenger")
        await _until_candidates(client, name, 2)
        restartable.kill()
        restartable.revive()  # back within the leases' TTL
        assert _seen(await incumbent.leader()) == (incumbent.key, b"a")
        assert won == [] and incumbent.is_leader  # still waiting, still leading
        await incumbent.resign()
        await task.join(WAIT)
        assert won == [True] and challenger.is_leader
        assert _seen(await challenger.leader()) == (challenger.key, b"b")
        await challenger.resign()


async def test_observer_survives_a_server_restart(restartable: Restartable, prefix: bytes) -> None:
    name = prefix + b"election"
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        leader = AsyncElection(client, name, ttl=10)
        async with leader.observe() as observer:
            await leader.campaign("v1")
            assert _seen(await observer.get(timeout=WAIT)) == (leader.key, b"v1")
            restartable.kill()
            restartable.revive()
            await leader.proclaim("v2")
            # v2 next (v1 not reported again), and v2 once: v3 comes right after it
            assert _seen(await observer.get(timeout=WAIT)) == (leader.key, b"v2")
            await leader.proclaim("v3")
            assert _seen(await observer.get(timeout=WAIT)) == (leader.key, b"v3")
            await leader.resign()


async def test_observer_cut_off_past_compaction_finds_the_leader(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    name = prefix + b"election"
    first, second = AsyncElection(aclient, name, ttl=TTL), AsyncElection(aclient, name, ttl=TTL)
    port = int(backend.endpoint.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=2) as behind_proxy,
            AsyncElection(behind_proxy, name).observe() as observer,
        ):
            await first.campaign("v1")
            assert _seen(await observer.get(timeout=WAIT)) == (first.key, b"v1")
            proxy.down()  # the observer is cut off while the leader changes...
            won: list[bool] = []

            async def stand() -> None:
                won.append(await second.campaign("w1", timeout=WAIT))

            task = spawn(stand, name="second")
            await _until_candidates(aclient, name, 2)
            await first.resign()
            await task.join(WAIT)
            assert won == [True]
            now = (await aclient.put(prefix + b"noise", "x")).header.revision
            await aclient.compact(now)  # ...and its resume point is compacted away
            proxy.up()
            assert _seen(await observer.get(timeout=WAIT)) == (second.key, b"w1")
            await second.proclaim("w2")
            assert _seen(await observer.get(timeout=WAIT)) == (second.key, b"w2")
    await second.resign()


async def test_interoperates_with_the_election_service(aclient: AsyncClient, prefix: bytes) -> None:
    """Our Election and etcd's Election service use one key layout: one leader at a time."""
    name = prefix + b"election"
    ours = AsyncElection(aclient, name, ttl=TTL)
    lease = await aclient.grant(30)
    assert await ours.campaign("ours")
    current = await aclient.election_leader(name)
    assert current is not None and (current.key, current.value) == (ours.key, b"ours")
    with pytest.raises(DeadlineExceededError):
        await aclient.campaign(name, "service", lease, timeout=0.5)  # waits for our leader
    await ours.resign()
    leader = await aclient.campaign(name, "service", lease, timeout=5)
    assert not await ours.campaign("ours again", timeout=0.5)  # and ours for the service's
    async with ours.observe() as observer:
        assert _seen(await observer.get(timeout=WAIT)) == (leader.key, b"service")
        await aclient.proclaim(leader, "service v2")
        assert _seen(await observer.get(timeout=WAIT)) == (leader.key, b"service v2")
    await aclient.resign(leader)
    assert await ours.campaign("ours again", timeout=5)
    await ours.resign()
    await lease.revoke()


async def test_a_quiet_observer_answers_nothing_yet(aclient: AsyncClient, prefix: bytes) -> None:
    observer = AsyncElection(aclient, prefix + b"quiet").observe()
    assert await observer.get(timeout=0.2) is None  # nobody stands: nothing yet
    async with AsyncElection(aclient, prefix + b"quiet", ttl=TTL) as candidate:
        assert await candidate.campaign("only", timeout=5)
        found = await observer.get(timeout=10)
        assert found is not None and found.value == b"only"
        assert await observer.get(timeout=0.2) is None  # no change: nothing yet
        await candidate.resign()
    await observer.cancel()
    with pytest.raises(WatchClosedError):
        await observer.get(timeout=0.2)


async def test_an_observer_whose_wait_ran_out_reports_only_leaders(
    aclient: AsyncClient, prefix: bytes
) -> None:
    """After a get() that ran out on an empty election, the next candidates are not all
    leaders: a waiting one is not reported (the robustness run's election checker saw an
    observer report a waiting candidate, then go back to the real leader's term)."""
    name = prefix + b"late"
    observer = AsyncElection(aclient, name).observe()
    assert await observer.get(timeout=0.2) is None  # nobody stands: the wait runs out
    first = AsyncElection(aclient, name, ttl=TTL)
    second = AsyncElection(aclient, name, ttl=TTL)
    assert await first.campaign("first", timeout=5)
    assert not await second.campaign("second", timeout=0.3)  # stood behind first, withdrew
    assert _seen(await observer.get(timeout=WAIT))[1] == b"first"
    assert await observer.get(timeout=0.3) is None  # the leader did not change
    await first.proclaim("first again")
    assert _seen(await observer.get(timeout=WAIT))[1] == b"first again"
    await first.resign()
    await observer.cancel()
