"""server_ref's test controls (EmbeddedServer.reset, expire_leases, advance_clock): no
etcd has them, so these run on server_ref alone.

``reset()`` makes a serving in-memory server as new, in place; every call waiting on
the old state ends with "etcdserver: server stopped" (each watch canceled with that
reason first, so a client cannot resume it at a revision that means nothing now).
``expire_leases()`` and ``advance_clock()`` expire leases as etcd's expiry does, and
return once the revocations are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from etcd3py import (
    AsyncClient,
    Client,
    EtcdError,
    EventType,
    LeaseLostError,
    LockNotHeldError,
    StoppedError,
)
from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc, v3lock_pb2, v3lock_pb2_grpc
from etcd3py.recipes import Mutex
from etcd3py.server_ref import EmbeddedServer

DEADLINE = 10.0  # for every wait below
_Req = TypeVar("_Req")


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as s:
        yield s


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.endpoint) as c:
        yield c


@pytest.fixture
def channel(server: EmbeddedServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.endpoint) as ch:
        yield ch


def _stopped(err: grpc.RpcError) -> bool:
    return bool(err.code() == E.STOPPED.code and err.details() == E.STOPPED.message)


# ---- reset: the state ----


def test_reset_empties_keys_history_and_leases(server: EmbeddedServer, client: Client) -> None:
    before = client.status()
    lease = client.grant(60)
    client.put("a", "1", lease=lease)
    last = client.put("b", "2").header.revision
    client.compact(last)
    server.reset()
    got = client.get("", from_key=True)
    assert got.kvs == [] and got.header.revision == 1
    assert client.leases() == []
    assert client.time_to_live(lease.id).ttl == -1
    # history starts again at 1, with nothing compacted
    assert client.put("a", "x").header.revision == 2
    assert client.put("a", "y").header.revision == 3
    assert client.get("a", revision=2).kvs[0].value == b"x"
    after = client.status()
    assert (after.member_id, after.header.cluster_id) == (
        before.member_id,
        before.header.cluster_id,
    )


def test_reset_turns_auth_off_and_forgets_users_and_roles(server: EmbeddedServer) -> None:
    with Client(server.endpoint) as admin:
        admin.user_add("root", "pw")
        admin.user_grant_role("root", "root")
        admin.role_add("reader")
        admin.auth_enable()
    with Client(server.endpoint) as anyone:
        with pytest.raises(EtcdError):
            anyone.put("k", "v")  # auth is on
        server.reset()
        assert anyone.auth_status() is False
        assert anyone.user_list() == []
        assert anyone.role_list() == []
        anyone.put("k", "v")  # no credentials needed any more


def test_reset_clears_alarms_and_their_gates(
    server: EmbeddedServer, client: Client, channel: grpc.Channel
) -> None:
    me = client.status().member_id
    raise_nospace = rpc_pb2.AlarmRequest(
        action=rpc_pb2.AlarmRequest.ACTIVATE, memberID=me, alarm=rpc_pb2.NOSPACE
    )
    rpc_pb2_grpc.MaintenanceStub(channel).Alarm(raise_nospace, timeout=DEADLINE)
    assert client.alarms() != []
    server.reset()
    assert client.alarms() == []
    assert client.put("k", "v").header.revision == 2  # the NOSPACE gate is gone too


def test_reset_of_a_server_on_a_data_dir_is_refused(tmp_path: Path) -> None:
    with (
        EmbeddedServer(data_dir=tmp_path / "data") as durable,
        pytest.raises(RuntimeError, match="data_dir"),
    ):
        durable.reset()


def test_reset_of_a_stopped_server_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not serving"):
        EmbeddedServer().reset()


# ---- reset: the calls waiting on the old state ----


def test_a_watch_across_a_reset_fails_instead_of_resuming(
    server: EmbeddedServer, client: Client
) -> None:
    client.put("w", "0")
    with client.watch("w") as watch:
        client.put("w", "1")
        first = watch.get(timeout=DEADLINE)
        assert first is not None and first.events[0].kv.value == b"1"
        server.reset()
        client.put("w", "after")  # revision 2 again: it must not reach the old watch
        with pytest.raises(StoppedError, match="etcdserver: server stopped"):
            watch.get(timeout=DEADLINE)


def test_an_async_watch_across_a_reset_fails_instead_of_resuming(server: EmbeddedServer) -> None:
    async def scenario() -> None:
        async with (
            AsyncClient(server.endpoint) as aclient,
            aclient.watch("w", prefix=True) as watch,
        ):
            await aclient.put("w1", "1")
            assert await watch.get(timeout=DEADLINE) is not None
            server.reset()
            await aclient.put("w1", "after")
            with pytest.raises(StoppedError):
                await watch.get(timeout=DEADLINE)

    asyncio.run(scenario())


def test_a_watch_stream_cancels_each_watch_then_ends_with_server_stopped(
    server: EmbeddedServer, channel: grpc.Channel
) -> None:
    requests = [
        rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"a", watch_id=7)),
        rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"b", watch_id=8)),
    ]
    with _open_requests(requests) as sent:
        stream = rpc_pb2_grpc.WatchStub(channel).Watch(sent, timeout=DEADLINE)
        created = [next(stream), next(stream)]
        assert [r.watch_id for r in created] == [7, 8] and all(r.created for r in created)
        server.reset()
        canceled = [next(stream), next(stream)]
        assert sorted(r.watch_id for r in canceled) == [7, 8]
        assert all(r.canceled and r.cancel_reason == E.STOPPED.message for r in canceled)
        with pytest.raises(grpc.RpcError) as ended:
            next(stream)
        assert _stopped(ended.value)


@contextlib.contextmanager
def _open_requests(requests: list[_Req]) -> Iterator[Iterator[_Req]]:
    """``requests``, then a request side left open (so that only the server ends the
    call) until the block is left."""
    done = threading.Event()

    def sent() -> Iterator[_Req]:
        yield from requests
        done.wait(DEADLINE * 3)

    try:
        yield sent()
    finally:
        done.set()


def test_a_keep_alive_stream_ends_with_server_stopped(
    server: EmbeddedServer, client: Client, channel: grpc.Channel
) -> None:
    lease = client.grant(60)
    with _open_requests([rpc_pb2.LeaseKeepAliveRequest(ID=lease.id)]) as sent:
        stream = rpc_pb2_grpc.LeaseStub(channel).LeaseKeepAlive(sent, timeout=DEADLINE)
        assert next(stream).TTL == 60
        server.reset()
        with pytest.raises(grpc.RpcError) as ended:
            next(stream)
        assert _stopped(ended.value)


def test_a_kept_alive_lease_is_lost_across_a_reset(server: EmbeddedServer, client: Client) -> None:
    with client.lease(60) as lease:
        server.reset()
        assert lease.wait_lost(timeout=DEADLINE)
        assert "does not know the lease" in (lease.lost_reason or "")
        # its id is never granted again, so nothing renews a new test's lease by mistake
        assert client.grant(60).id != lease.id


def test_a_waiting_lock_ends_with_server_stopped(
    server: EmbeddedServer, client: Client, channel: grpc.Channel
) -> None:
    locks = v3lock_pb2_grpc.LockStub(channel)
    holder, waiter = client.grant(60), client.grant(60)
    locks.Lock(v3lock_pb2.LockRequest(name=b"L", lease=holder.id), timeout=DEADLINE)
    waiting = locks.Lock.future(
        v3lock_pb2.LockRequest(name=b"L", lease=waiter.id), timeout=DEADLINE
    )
    # the waiter's key is written before it waits: wait for it, then reset
    deadline = time.monotonic() + DEADLINE
    while client.get("L/", prefix=True, count_only=True).count < 2:
        assert time.monotonic() < deadline, "the second Lock never queued"
    server.reset()
    with pytest.raises(grpc.RpcError) as ended:
        waiting.result(DEADLINE)
    assert _stopped(ended.value)
    assert client.get("L/", prefix=True).kvs == []


# ---- reset: cost ----


def test_reset_is_much_cheaper_than_a_new_server(server: EmbeddedServer, client: Client) -> None:
    rounds = 20
    resets = []
    for i in range(rounds):
        client.put(f"k{i}", "v", lease=client.grant(60))
        start = time.perf_counter()
        server.reset()
        resets.append(time.perf_counter() - start)
    restarts = []
    for _ in range(rounds):
        start = time.perf_counter()
        EmbeddedServer().start().stop()
        restarts.append(time.perf_counter() - start)
    assert statistics.median(resets) * 3 < statistics.median(restarts)


# ---- expiry on demand ----


def test_expire_leases_revokes_every_lease_and_deletes_its_keys(
    server: EmbeddedServer, client: Client
) -> None:
    short, long = client.grant(5), client.grant(3600)
    client.put("s", "1", lease=short)
    client.put("l", "1", lease=long)
    client.put("free", "1")
    with client.watch("", from_key=True) as watch:
        server.expire_leases()
        assert client.leases() == []  # applied before expire_leases() returned
        assert [kv.key for kv in client.get("", from_key=True).kvs] == [b"free"]
        response = watch.get(timeout=DEADLINE)
        assert response is not None
        assert sorted((e.type, e.kv.key) for e in response.events) == [
            (EventType.DELETE, b"l"),
            (EventType.DELETE, b"s"),
        ]
    with pytest.raises(LeaseLostError):
        long.refresh()  # a keep-alive is answered TTL 0


def test_advance_clock_expires_the_leases_whose_ttl_ran_out(
    server: EmbeddedServer, client: Client
) -> None:
    lease = client.grant(10)
    client.put("k", "v", lease=lease)
    server.advance_clock(9)
    assert client.leases() == [lease.id]
    assert client.time_to_live(lease.id).ttl in (0, 1)
    server.advance_clock(1)
    assert client.leases() == []
    assert client.get("k").kvs == []


def test_advance_clock_moves_time_to_live_and_keep_alives_renew_from_it(
    server: EmbeddedServer, client: Client
) -> None:
    lease = client.grant(100)
    server.advance_clock(40)
    assert 58 <= client.time_to_live(lease.id).ttl <= 60
    assert lease.refresh() == 100  # renewed from the advanced clock: 100 s from now
    server.advance_clock(99)
    assert client.leases() == [lease.id]
    server.advance_clock(1.5)
    assert client.leases() == []


def test_advance_clock_only_moves_forward(server: EmbeddedServer) -> None:
    with pytest.raises(ValueError, match="forward"):
        server.advance_clock(-1)
    with pytest.raises(TypeError):
        server.advance_clock("1")  # type: ignore[arg-type]


def test_reset_sets_the_real_clock_back(server: EmbeddedServer, client: Client) -> None:
    server.advance_clock(1000)
    server.reset()
    lease = client.grant(100)
    assert client.time_to_live(lease.id).ttl >= 98


def test_a_mutex_whose_lease_expired_knows_it_lost_the_lock(
    server: EmbeddedServer, client: Client
) -> None:
    mutex = Mutex(client, "jobs/lock", ttl=3)  # renewed every second
    assert mutex.acquire(timeout=DEADLINE)
    assert mutex.held
    server.expire_leases()
    session = mutex.session
    assert session is not None
    assert session.wait_lost(timeout=DEADLINE)
    assert not mutex.held
    with pytest.raises(LockNotHeldError, match="lost"):
        mutex.release()
