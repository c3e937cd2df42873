"""Several endpoints: balancing, failover when a member dies, endpoint discovery,
require_leader.

The balancing tests need independent servers rather than a cluster; the others run on
the ``cluster`` fixture (a real 3-member etcd cluster, or server_ref's EmbeddedCluster);
the tests that kill members run on server_ref processes too (``WITH_PROCESSES``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from etcd3py import AsyncClient, DeadlineExceededError, EtcdError, NoLeaderError
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer
from tests.conftest import BACKENDS
from tests.support.clusters import Cluster, cluster_backends
from tests.support.servers import EtcdProcess

pytestmark = pytest.mark.anyio


class Servers:
    """Independent single-member servers, each holding key b"who" = its index."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self._etcds: list[EtcdProcess] = []
        self._refs: list[EmbeddedServer] = []
        if kind == "etcd":
            self._etcds = [EtcdProcess(tmp / f"e{i}").start() for i in range(3)]
            self.endpoints = [p.endpoint for p in self._etcds]
        else:
            self._refs = [EmbeddedServer().start() for _ in range(3)]
            self.endpoints = [s.endpoint for s in self._refs]
        for i, endpoint in enumerate(self.endpoints):
            with grpc.insecure_channel(endpoint) as channel:
                kv = rpc_pb2_grpc.KVStub(channel)
                kv.Put(rpc_pb2.PutRequest(key=b"who", value=b"%d" % i), timeout=10)

    def kill(self, i: int) -> None:
        if self._etcds:
            self._etcds[i].kill()
        else:
            self._refs[i].kill()

    def revive(self, i: int) -> None:
        if self._etcds:
            self._etcds[i].start()
        else:
            self._refs[i].revive()

    def stop(self) -> None:
        for proc in self._etcds:
            proc.remove()
        for server in self._refs:
            server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    group = Servers(request.param, tmp_path_factory.mktemp("independent"))
    try:
        yield group
    finally:
        group.stop()


async def who(client: AsyncClient) -> bytes:
    value = (await client.get("who")).value
    assert value is not None
    return value


async def test_round_robin_spreads_calls(servers: Servers) -> None:
    async with AsyncClient(servers.endpoints, lb_policy="round_robin") as client:
        answers = [await who(client) for _ in range(6)]
    assert sorted(answers) == [b"0", b"0", b"1", b"1", b"2", b"2"]


async def test_pick_first_stays_then_fails_over(servers: Servers) -> None:
    async with AsyncClient(servers.endpoints, lb_policy="pick_first", timeout=5) as client:
        assert [await who(client) for _ in range(3)] == [b"0", b"0", b"0"]
        servers.kill(0)
        try:
            assert [await who(client) for _ in range(3)] == [b"1", b"1", b"1"]
        finally:
            servers.revive(0)


async def test_round_robin_skips_a_dead_endpoint(servers: Servers) -> None:
    async with AsyncClient(servers.endpoints, lb_policy="round_robin", timeout=5) as client:
        servers.kill(1)
        try:
            answers = [await who(client) for _ in range(8)]
        finally:
            servers.revive(1)
    assert set(answers) == {b"0", b"2"}  # no call failed, none went to the dead one


# ---- a 3-member cluster (tests.support.clusters: real etcd or server_ref) ----

WITH_PROCESSES = pytest.mark.parametrize(
    "cluster", cluster_backends(BACKENDS, processes=True), indirect=True, scope="module"
)


@pytest.mark.cluster
@WITH_PROCESSES
@pytest.mark.parametrize("policy", ["pick_first", "round_robin"])
async def test_killing_the_member_in_use(
    healthy_cluster: Cluster, prefix: bytes, policy: str
) -> None:
    cluster = healthy_cluster
    ops = 120
    progress = threading.Event()
    victim = 0  # pick_first uses the first endpoint; round_robin uses them all

    def kill_when_busy() -> None:
        if progress.wait(30):
            cluster.kill(victim)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    read_failures: list[BaseException] = []
    write_errors: dict[bytes, EtcdError] = {}
    written: list[bytes] = []
    async with AsyncClient(cluster.endpoints, lb_policy=policy, timeout=10) as client:
        for i in range(ops):
            key = prefix + b"%04d" % i
            try:
                await client.put(key, key)
                written.append(key)
            except EtcdError as err:  # allowed: a write may fail, typed, when its member dies
                write_errors[key] = err
            try:
                got = await client.get(key)
                if key in written:
                    assert got.value == key
            except EtcdError as err:
                read_failures.append(err)
            if i == ops // 4:
                progress.set()  # the kill lands while the loop goes on
        killer.join(30)
        assert not cluster.running(victim)
        result = await client.get(prefix, prefix=True)
    assert read_failures == []
    versions = {kv.key: kv.version for kv in result.kvs}
    assert all(versions[key] == 1 for key in written)  # every acknowledged write, once
    assert all(versions.get(key, 0) <= 1 for key in write_errors)  # never twice
    assert len(written) >= ops - 5


@pytest.mark.cluster
async def test_auto_sync_finds_every_member(healthy_cluster: Cluster) -> None:
    first = healthy_cluster.endpoints[0]
    async with AsyncClient(first, auto_sync_interval=0.2) as client:
        deadline = time.monotonic() + 10
        while len(client.endpoints) < 3 and time.monotonic() < deadline:
            await client.get("k")  # any call; the sync runs in the background
        assert sorted(client.endpoints) == sorted(
            f"http://{e}" if e != first else e for e in healthy_cluster.endpoints
        )


@pytest.mark.cluster
@WITH_PROCESSES
async def test_require_leader(healthy_cluster: Cluster, prefix: bytes) -> None:
    cluster = healthy_cluster
    async with AsyncClient(cluster.endpoints) as client:
        await client.put(prefix + b"k", "v")
    cluster.kill(1)
    cluster.kill(2)
    survivor = cluster.endpoint(0)
    async with AsyncClient(survivor, require_leader=True, timeout=1) as strict:
        # the survivor notices it lost the leader within an election timeout; until
        # then a linearizable read waits for the gone leader and times out
        deadline = time.monotonic() + 15
        error: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                await strict.get(prefix + b"k")
            except NoLeaderError as err:
                error = err
                break
            except DeadlineExceededError:
                continue
        assert isinstance(error, NoLeaderError)
    async with AsyncClient(survivor, timeout=4) as lenient:
        # a serializable read is served from the member's own copy
        assert (await lenient.get(prefix + b"k", serializable=True)).value == b"v"
