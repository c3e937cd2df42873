"""Service discovery, on both servers: registration, listing, watching, a killed instance."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from etcd3py import ArgumentError, AsyncClient, WatchClosedError
from etcd3py.recipes import AsyncRegistration, AsyncServiceRegistry, Instance
from tests.conftest import Restartable
from tests.support.backends import Backend

pytestmark = pytest.mark.anyio

WAIT = 20.0  # the longest any wait of the fault tests may take


async def test_entries_have_go_naming_layout(aclient: AsyncClient, prefix: bytes) -> None:
    registry = AsyncServiceRegistry(aclient, prefix=prefix.decode() + "services")
    meta = {"zone": "eu-1", "weight": 3}
    async with registry.register("orders", "10.0.0.5:8080", metadata=meta, ttl=5) as me:
        assert me == Instance("orders", "10.0.0.5:8080", "10.0.0.5:8080", meta)
        raw = await aclient.get(prefix + b"services/orders/10.0.0.5:8080")
        # byte for byte what Go's naming/endpoints writes (json.Marshal, Op 0 = Add)
        assert raw.value == b'{"Op":0,"Addr":"10.0.0.5:8080","Metadata":{"zone":"eu-1","weight":3}}'
        assert raw.kvs[0].lease != 0  # on a lease
        plain = registry.register("orders", "10.0.0.6:8080", instance_id="b")
        await plain.start()
        assert json.loads((await aclient.get(prefix + b"services/orders/b")).value or b"") == {
            "Op": 0,
            "Addr": "10.0.0.6:8080",
            "Metadata": None,
        }
        listed = await registry.instances("orders")
        assert [(i.id, i.address) for i in listed] == [
            ("10.0.0.5:8080", "10.0.0.5:8080"),
            ("b", "10.0.0.6:8080"),
        ]
        await plain.stop()
    assert await registry.instances("orders") == []


async def test_watch_yields_every_change(aclient: AsyncClient, prefix: bytes) -> None:
    registry = AsyncServiceRegistry(aclient, prefix=prefix.decode() + "services")
    async with registry.watch("api") as watch:
        assert await watch.get(timeout=10) == []
        first = registry.register("api", "h1:1", ttl=5)
        await first.start()
        assert [i.address for i in await watch.get(timeout=10) or []] == ["h1:1"]
        second = registry.register("api", "h2:1", ttl=5)
        await second.start()
        assert [i.address for i in await watch.get(timeout=10) or []] == ["h1:1", "h2:1"]
        await first.stop()
        assert [i.address for i in await watch.get(timeout=10) or []] == ["h2:1"]
        await second.stop()
        assert await watch.get(timeout=10) == []


async def test_a_lost_registration_comes_back(aclient: AsyncClient, prefix: bytes) -> None:
    registry = AsyncServiceRegistry(aclient, prefix=prefix.decode() + "services")
    lost: list[bytes] = []
    registration = registry.register("api", "h1:1", ttl=2)
    registration.on_lost(lambda r: lost.append(r.key))
    await registration.start()
    async with registry.watch("api") as watch:
        assert [i.address for i in await watch.get(timeout=10) or []] == ["h1:1"]
        record = await aclient.get(registration.key)
        await aclient.revoke(record.kvs[0].lease)  # as if the lease expired
        assert await watch.get(timeout=10) == []
        assert [i.address for i in await watch.get(timeout=10) or []] == ["h1:1"]  # again
    assert lost == [registration.key] and registration.registered
    await registration.stop()


async def test_a_killed_instance_disappears_within_its_ttl(backend: Backend, prefix: bytes) -> None:
    ttl = 2
    services = prefix.decode() + "services"
    async with AsyncClient(backend.endpoint) as client:
        registry = AsyncServiceRegistry(client, prefix=services)
        async with registry.watch("api") as watch:
            assert await watch.get(timeout=10) == []
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.registering_process",
                 backend.endpoint, services, "api", "10.9.9.9:80", str(ttl)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "registered"
                assert [i.address for i in await watch.get(timeout=10) or []] == ["10.9.9.9:80"]
                proc.kill()  # SIGKILL: no chance to deregister
                killed = time.monotonic()
                assert await watch.get(timeout=ttl + 5) == []
                # the lease expired: within its TTL, plus etcd's expiry check interval
                assert time.monotonic() - killed < ttl + 2
            finally:
                proc.kill()
                proc.wait(10)


async def test_registration_and_watch_survive_a_server_restart(
    restartable: Restartable, prefix: bytes
) -> None:
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        registry = AsyncServiceRegistry(client, prefix=prefix.decode() + "services")
        lost: list[AsyncRegistration] = []
        async with registry.watch("api") as watch:
            assert await watch.get(timeout=WAIT) == []
            first = registry.register("api", "h1:1", ttl=10)
            first.on_lost(lost.append)
            await first.start()
            assert [i.address for i in await watch.get(timeout=WAIT) or []] == ["h1:1"]
            restartable.kill()
            restartable.revive()  # back within the TTL: the instance is still there
            assert [i.address for i in await registry.instances("api")] == ["h1:1"]
            assert first.registered
            second = registry.register("api", "h2:1", ttl=10)
            await second.start()
            assert [i.address for i in await watch.get(timeout=WAIT) or []] == ["h1:1", "h2:1"]
            await first.stop()
            assert [i.address for i in await watch.get(timeout=WAIT) or []] == ["h2:1"]
            await second.stop()
            assert await watch.get(timeout=WAIT) == []
        assert lost == []  # the lease was kept alive across the restart, never lost


async def test_bad_service_names(aclient: AsyncClient) -> None:
    registry = AsyncServiceRegistry(aclient)
    with pytest.raises(ArgumentError, match="service must be a service name without '/'"):
        await registry.instances("a/b")
    with pytest.raises(ArgumentError, match="service must be a non-empty str"):
        registry.register("", "h:1")


async def test_a_quiet_service_watch_answers_nothing_yet(
    aclient: AsyncClient, prefix: bytes
) -> None:
    registry = AsyncServiceRegistry(aclient, prefix=prefix.decode().rstrip("/"))
    watch = registry.watch("quiet")
    assert await watch.get(timeout=10) == []  # the first answer: the list as it is
    assert await watch.get(timeout=0.2) is None  # then nothing yet, not an error
    async with registry.register("quiet", "h1:1"):
        assert [i.address for i in await watch.get(timeout=10) or []] == ["h1:1"]
    await watch.cancel()
    with pytest.raises(WatchClosedError):  # closed is not "nothing yet"
        await watch.get(timeout=0.2)
    assert [found async for found in watch] == []
