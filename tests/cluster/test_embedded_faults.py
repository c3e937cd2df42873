"""Faults injected into server_ref's in-process cluster (``EmbeddedCluster``): a leader
partitioned away, a follower partitioned away, a paused leader, slow and lossy links, a
member killed and restarted on its data directory, a leader removing itself, leases and
watches across a leader change.

These run on server_ref only: partitions, pauses, delays and drops on single peer links
have no counterpart in the real-etcd cluster of the suite (it would take a TCP proxy per
peer link). What they assert is etcd 3.5.1's behaviour (docs/cluster-facts.md, and etcd's
raft: pre-vote, check-quorum, ReadIndex).

Every wait has a deadline; the only timing bounds are lower bounds, or upper bounds of
several election timeouts where etcd's algorithm promises one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import pytest

from etcd3py import AsyncClient, CreateRevision, DeadlineExceededError, Put
from etcd3py.errors import EtcdError, ServerTimeoutError, UnavailableError
from etcd3py.server_ref import EmbeddedCluster
from etcd3py.server_ref.embed.cluster import ClusterMember
from etcd3py.server_ref.raft import Role

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

ELECTION = 1.0  # etcd's default --election-timeout, seconds (EmbeddedCluster's too)
T = TypeVar("T")


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    """A fresh 3-member cluster per test: each test leaves members cut off or gone."""
    with EmbeddedCluster(members=3, seed=11) as group:
        group.wait_leader()
        yield group


async def off_loop(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking EmbeddedCluster call on a thread, so that the clients on this
    event loop (keep-alives, watches) go on meanwhile."""
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


async def until(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something other than None, within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got is not None:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        await anyio.sleep(0.05)  # polling under a deadline


def index(cluster: EmbeddedCluster, member: ClusterMember) -> int:
    return cluster.members.index(member)


def others(cluster: EmbeddedCluster, i: int) -> list[int]:
    return [j for j in range(len(cluster.members)) if j != i]


async def serves(client: AsyncClient, keys: list[bytes]) -> bool | None:
    """True once a serializable read on the client's one member finds every key."""
    for key in keys:
        if (await client.get(key, serializable=True)).count != 1:
            return None
    return True


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[AsyncClient]]]:
    """``await open(endpoints, timeout=...)``: a client closed after the test."""
    opened: list[AsyncClient] = []

    async def open_client(endpoints: str | list[str], timeout: float = 5.0) -> AsyncClient:
        client = AsyncClient(endpoints, timeout=timeout)
        await client.__aenter__()
        opened.append(client)
        return client

    yield open_client
    for client in reversed(opened):
        await client.close()


Open = Callable[..., Awaitable[AsyncClient]]


# ---- a partitioned leader ----


async def test_partitioned_leader_steps_down_and_follows_once_healed(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    old = cluster.wait_leader()
    i = index(cluster, old)
    majority = others(cluster, i)
    on_old = await clients(old.endpoint, timeout=2)
    on_majority = await clients([cluster.members[j].endpoint for j in majority], timeout=5)
    await on_majority.put(prefix + b"before", b"v")
    await until(lambda: serves(on_old, [prefix + b"before"]), 5, "applied on the leader")

    cluster.partition([i], majority)
    partitioned = time.monotonic()
    acked_by_old: list[bytes] = []

    async def write_on_old(n: int) -> None:
        key = prefix + b"old/%d" % n
        try:
            await on_old.put(key, b"x")
            acked_by_old.append(key)
        except EtcdError:
            pass  # not acknowledged: it may or may not be applied, once

    async with anyio.create_task_group() as writers:
        for n in range(5):
            writers.start_soon(write_on_old, n)
        new = await off_loop(cluster.wait_leader, 3 * ELECTION + 1, other_than=old)
    assert new is not old
    assert time.monotonic() - partitioned < 3 * ELECTION + 1  # pre-vote, vote, in ~3 timeouts

    # check-quorum: the old leader steps down (its Status names it no more)
    async def not_leading() -> bool | None:
        return True if (await on_old.status()).leader != old.id else None

    await until(not_leading, 4 * ELECTION, "the cut-off leader stepped down")
    with pytest.raises((DeadlineExceededError, ServerTimeoutError)):
        await on_old.get(prefix + b"before")  # linearizable: no leader to confirm it
    stale = await on_old.get(prefix + b"before", serializable=True)
    assert stale.value == b"v"  # its own copy

    written = [prefix + b"new/%d" % n for n in range(5)]
    for key in written:
        await on_majority.put(key, b"y")
    assert (await on_old.get(prefix + b"new/", prefix=True, serializable=True)).count == 0

    cluster.heal()

    async def follows_new() -> bool | None:
        return True if (await on_old.status()).leader == new.id else None

    await until(follows_new, 4 * ELECTION, "the old leader follows the new one")
    await until(lambda: serves(on_old, written), 4 * ELECTION, "the old leader caught up")
    assert (await on_old.get(prefix + b"before")).value == b"v"  # linearizable again

    everything = await on_majority.get(prefix, prefix=True)
    keys = {kv.key for kv in everything.kvs}
    assert set(acked_by_old) <= keys  # nothing the old leader acknowledged is lost
    assert set(written) <= keys
    assert all(kv.version == 1 for kv in everything.kvs)  # nothing applied twice
    revisions = [kv.mod_revision for kv in everything.kvs]
    assert len(set(revisions)) == len(revisions)


async def test_stepped_down_leader_reports_no_leader_at_once(
    cluster: EmbeddedCluster, clients: Open
) -> None:
    old = cluster.wait_leader()
    i = index(cluster, old)
    on_old = await clients(old.endpoint, timeout=2)
    cluster.partition([i], others(cluster, i))

    # the public surface cannot tell when the step-down happens: read the Raft node
    async def stepped_down() -> bool | None:
        return True if old.raft.node.role is not Role.LEADER else None

    await until(stepped_down, 3 * ELECTION, "check-quorum stepped the leader down")
    assert (await on_old.status()).leader == 0


async def test_partitioned_follower_catches_up_without_disturbing_the_leader(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    leader = cluster.wait_leader()
    i = index(cluster, leader)
    follower = (i + 1) % 3
    on_leader = await clients(leader.endpoint)
    on_follower = await clients(cluster.members[follower].endpoint, timeout=2)
    term = (await on_leader.status()).raft_term

    cluster.partition([follower], others(cluster, follower))
    written = [prefix + b"%d" % n for n in range(20)]
    for key in written:
        await on_leader.put(key, b"v")  # the other two are a quorum
    assert (await on_follower.get(prefix, prefix=True, serializable=True)).count == 0
    # it cannot reach the leader: unanswered for an election timeout or two
    await until(
        lambda: _no_leader(on_follower), 4 * ELECTION, "the cut-off follower lost its leader"
    )

    cluster.heal()
    await until(lambda: serves(on_follower, written), 4 * ELECTION, "the follower caught up")
    # pre-vote: the follower's failed elections raised no term, so the leader stayed
    status = await on_leader.status()
    assert (status.leader, status.raft_term) == (leader.id, term)
    assert (await on_follower.status()).leader == leader.id


async def _no_leader(client: AsyncClient) -> bool | None:
    return True if (await client.status()).leader == 0 else None


# ---- a paused leader ----


async def test_paused_leader_is_replaced_then_steps_down_and_catches_up(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    old = cluster.wait_leader()
    i = index(cluster, old)
    on_old = await clients(old.endpoint, timeout=1.5)
    on_rest = await clients([cluster.members[j].endpoint for j in others(cluster, i)])
    await on_old.put(prefix + b"before", b"v")

    cluster.pause_member(i)
    try:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            await on_old.get(prefix + b"before", serializable=True)
        assert time.monotonic() - started >= 1.4  # it waited for the frozen member
        new = await off_loop(cluster.wait_leader, 3 * ELECTION + 1, other_than=old)
        written = [prefix + b"new/%d" % n for n in range(5)]
        for key in written:
            await on_rest.put(key, b"v")
    finally:
        cluster.resume_member(i)

    async def follows_new() -> bool | None:
        return True if (await on_old.status()).leader == new.id else None

    await until(follows_new, 4 * ELECTION, "the resumed leader follows the new one")
    await until(lambda: serves(on_old, written), 4 * ELECTION, "the resumed leader caught up")
    assert cluster.leader is new


# ---- slow and lossy links ----

DELAY = 0.05


async def _put_times(client: AsyncClient, keys: list[bytes]) -> list[float]:
    took = []
    for key in keys:
        started = time.monotonic()
        await client.put(key, b"v")
        took.append(time.monotonic() - started)
    return took


async def test_delayed_links_slow_writes_down_by_a_round_trip(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    leader = cluster.wait_leader()
    on_leader = await clients(leader.endpoint, timeout=10)
    quick = await _put_times(on_leader, [prefix + b"quick/%d" % n for n in range(5)])
    cluster.delay_messages(DELAY)
    slow = await _put_times(on_leader, [prefix + b"slow/%d" % n for n in range(5)])
    # a put commits once a follower's answer to the leader's append is back: a round trip
    assert min(slow) >= 2 * DELAY * 0.9, slow
    assert sorted(slow)[2] >= sorted(quick)[2] + 2 * DELAY * 0.9, (quick, slow)
    cluster.heal()
    assert cluster.wait_leader() is leader  # heartbeats were late, never an election's worth


async def test_lossy_links_still_commit_and_converge(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    # through the leader: a proposal a follower forwards travels as one message, and
    # etcd's raft does not resend a lost one (the put times out after 7 s, on etcd too);
    # the leader's appends and heartbeats are resent until answered
    on_leader = await clients(cluster.wait_leader().endpoint, timeout=10)
    cluster.drop_messages(0.2)  # drawn from the cluster's seed
    written = [prefix + b"%d" % n for n in range(20)]
    for key in written:
        await on_leader.put(key, b"v")
    cluster.heal()
    for member in cluster.members:
        on_member = await clients(member.endpoint)
        await until(lambda c=on_member: serves(c, written), 4 * ELECTION, f"{member.name} has all")


# ---- kill and restart on a data directory ----


async def test_killed_member_restarts_on_its_data_dir(tmp_path: Path, prefix: bytes) -> None:
    with EmbeddedCluster(members=3, data_dir=tmp_path, seed=12) as group:
        leader = group.wait_leader()
        i = (index(group, leader) + 1) % 3  # a follower
        async with AsyncClient(group.endpoints, timeout=5) as on_all:
            before = [prefix + b"before/%d" % n for n in range(5)]
            for key in before:
                await on_all.put(key, b"v")
            async with AsyncClient(group.members[i].endpoint, timeout=5) as on_member:
                await until(lambda: serves(on_member, before), 5, "applied before the kill")
            group.kill_member(i)
            assert any((tmp_path / group.members[i].name).iterdir())
            during = [prefix + b"during/%d" % n for n in range(5)]
            for key in during:
                await on_all.put(key, b"v")
            # back cut off from the others: what it serves is what its disk held
            group.partition([i], others(group, i))
            await off_loop(group.restart_member, i)
            async with AsyncClient(group.members[i].endpoint, timeout=5) as on_member:
                assert await serves(on_member, before)
                got = await on_member.get(prefix + b"during/", prefix=True, serializable=True)
                assert got.count == 0
                group.heal()
                await until(
                    lambda: serves(on_member, before + during), 4 * ELECTION, "it caught up"
                )


# ---- membership ----


async def test_leader_removing_itself_after_a_voter_joined(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    old = cluster.wait_leader()
    i = index(cluster, old)
    on_all = await clients(cluster.endpoints)
    await on_all.put(prefix + b"k", b"v")
    joined = await off_loop(cluster.add_member, learner=False)
    on_joined = await clients(joined.endpoint)
    await until(lambda: serves(on_joined, [prefix + b"k"]), 5, "the new voter caught up")
    assert len(await on_all.member_list()) == 4

    on_old = await clients(old.endpoint, timeout=5)
    on_rest = await clients([m.endpoint for j, m in enumerate(cluster.members) if j != i])
    await on_rest.member_remove(old.id)  # through a follower (see the test below)

    async def stopped() -> bool | None:
        return True if not old.running else None

    await until(stopped, 5, "the removed leader stopped")
    with pytest.raises(UnavailableError):  # its port is closed
        await on_old.get(prefix + b"k", serializable=True, timeout=2)
    new = await off_loop(cluster.wait_leader, 3 * ELECTION + 1, other_than=old)
    assert new is not old
    await on_rest.put(prefix + b"after", b"v")
    members = await on_rest.member_list()
    assert sorted(m.id for m in members) == sorted(m.id for m in cluster.members if m is not old)
    assert (await on_rest.status()).leader == new.id


async def test_leader_answers_its_own_removal_before_it_stops(
    cluster: EmbeddedCluster, clients: Open
) -> None:
    await off_loop(cluster.add_member, learner=False)  # 4 voters: 3 stay a quorum
    old = cluster.wait_leader()
    on_old = await clients(old.endpoint, timeout=5)
    await on_old.member_remove(old.id)
    assert (await on_old.status(timeout=1)).member_id == old.id  # still up for a moment


# ---- leases ----


async def test_unrenewed_lease_expires_on_time_on_every_member(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    ttl = 3
    leader = cluster.wait_leader()
    follower = cluster.members[(index(cluster, leader) + 1) % 3]
    on_follower = await clients(follower.endpoint)
    on_each = [await clients(m.endpoint) for m in cluster.members]
    granted_from = time.monotonic()
    lease = await on_follower.grant(ttl)
    await on_follower.put(prefix + b"k", b"v", lease=lease)

    async def gone_everywhere() -> float | None:
        for client in on_each:
            if (await client.get(prefix + b"k", serializable=True)).count:
                return None
        return time.monotonic() - granted_from

    took = await until(gone_everywhere, ttl + 3 * ELECTION, "the lease's key went")
    assert took >= ttl - 0.05  # the leader counted from the grant, after we asked
    assert took <= ttl + 2 * ELECTION, took  # its revocation is one proposal after expiry
    for client in on_each:
        assert (await client.time_to_live(lease.id)).ttl == -1


async def test_lease_kept_alive_through_a_follower_survives_a_leader_kill(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    leader = cluster.wait_leader()
    i = index(cluster, leader)
    follower = cluster.members[(i + 1) % 3]
    on_follower = await clients(follower.endpoint, timeout=10)
    kept = await on_follower.grant(3)
    on_follower.keep_alive(kept)
    await on_follower.put(prefix + b"kept", b"v", lease=kept)
    idle = await on_follower.grant(6)  # not renewed: shows the new leader's full TTL

    async def run_down() -> bool | None:
        return True if (await idle.time_to_live()).ttl <= 4 else None

    await until(run_down, 5, "the idle lease ran down")
    await off_loop(cluster.kill_member, i)
    await off_loop(cluster.wait_leader, 3 * ELECTION + 1, other_than=leader)
    info = await idle.time_to_live()
    assert info.granted_ttl == 6
    assert info.ttl >= 5  # the new leader gave it its full TTL again

    # two TTLs of the kept lease after the kill, it and its key are still there
    deadline = time.monotonic() + 2 * 3
    while time.monotonic() < deadline:
        assert (await kept.time_to_live()).ttl > 0
        assert (await on_follower.get(prefix + b"kept", serializable=True)).count == 1
        await anyio.sleep(0.25)  # sampling the lease over its lifetime
    assert not kept.lost


# ---- watches on a follower ----


async def _write_once(client: AsyncClient, key: bytes) -> None:
    """Create ``key`` exactly once, retried through a leader change (a retry of a write
    that was applied finds the key there and changes nothing)."""
    deadline = time.monotonic() + 6 * ELECTION
    while True:
        try:
            await client.txn(compare=[CreateRevision(key) == 0], success=[Put(key, b"v")])
            return
        except EtcdError:
            assert time.monotonic() < deadline, f"{key!r} was never written"


async def test_watch_on_a_follower_sees_every_write_across_a_leader_kill(
    cluster: EmbeddedCluster, clients: Open, prefix: bytes
) -> None:
    leader = cluster.wait_leader()
    i = index(cluster, leader)
    follower = cluster.members[(i + 1) % 3]
    on_follower = await clients(follower.endpoint, timeout=10)
    on_leader = await clients(leader.endpoint, timeout=2)
    keys = [prefix + b"%02d" % n for n in range(10)]
    seen: list[tuple[int, bytes]] = []  # (revision, key) in the order events arrived

    async with on_follower.watch(prefix, prefix=True) as watch:
        for key in keys[:5]:
            await _write_once(on_leader, key)
        await off_loop(cluster.kill_member, i)
        new = await off_loop(cluster.wait_leader, 3 * ELECTION + 1, other_than=leader)
        on_new = await clients(new.endpoint, timeout=2)
        for key in keys[5:]:
            await _write_once(on_new, key)
        deadline = time.monotonic() + 4 * ELECTION
        while len(seen) < len(keys) and time.monotonic() < deadline:
            for event in await watch.events(timeout=max(0.0, deadline - time.monotonic())):
                seen.append((event.kv.mod_revision, event.kv.key))
    assert [key for _, key in seen] == keys  # none lost, none twice, in order
    revisions = [revision for revision, _ in seen]
    assert revisions == sorted(set(revisions))
