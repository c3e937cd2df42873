"""ConfigWatcher, on both servers: consistent load, live updates, reload after compaction."""

from __future__ import annotations

import pytest

from etcd3py import AsyncClient, ClientClosedError
from etcd3py.recipes import AsyncConfigWatcher, ConfigChange
from tests.conftest import Restartable
from tests.support.backends import Backend
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

WAIT = 20.0  # the longest any wait of the fault tests may take


async def test_load_and_follow(aclient: AsyncClient, prefix: bytes) -> None:
    p = prefix + b"config/"
    await aclient.put(p + b"db_url", "postgres://a")
    await aclient.put(p + b"mode", "blue")
    await aclient.put(prefix + b"elsewhere", "not mine")
    changes: list[ConfigChange] = []
    async with AsyncConfigWatcher(aclient, p) as config:
        config.on_change(changes.append)
        assert dict(config) == {"db_url": b"postgres://a", "mode": b"blue"}
        assert config["mode"] == b"blue" and len(config) == 2 and "db_url" in config
        rev = (await aclient.put(p + b"mode", "green")).header.revision
        await aclient.delete(p + b"db_url")
        last = (await aclient.put(p + b"new", "1")).header.revision
        assert await config.wait_for(last, timeout=10)
        assert dict(config) == {"mode": b"green", "new": b"1"}
        assert config.revision >= last
        assert changes[0] == ConfigChange(rev, {"mode": b"green"}, frozenset())
        assert changes[1].deleted == frozenset({"db_url"})
        assert not await config.wait_for(last + 1000, timeout=0.2)


async def test_reload_after_compaction_is_announced(
    aclient: AsyncClient, backend: Backend, prefix: bytes
) -> None:
    p = prefix + b"config/"
    await aclient.put(p + b"a", "1")
    port = int(backend.endpoint.rsplit(":", 1)[1])
    changes: list[ConfigChange] = []
    with TcpProxy(port) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=2) as behind_proxy,
            AsyncConfigWatcher(behind_proxy, p) as config,
        ):
            config.on_change(changes.append)
            assert dict(config) == {"a": b"1"}
            proxy.down()  # the watcher is cut off while history moves on...
            await aclient.put(p + b"b", "2")
            await aclient.delete(p + b"a")
            now = (await aclient.put(p + b"c", "3")).header.revision
            await aclient.compact(now)  # ...and is compacted: it cannot resume
            proxy.up()
            assert await config.wait_for(now, timeout=20)
            assert dict(config) == {"b": b"2", "c": b"3"}
    reload = [c for c in changes if c.reloaded]
    assert len(reload) == 1
    assert reload[0].changed == {"b": b"2", "c": b"3"} and reload[0].deleted == {"a"}


async def test_follows_across_a_server_restart(restartable: Restartable, prefix: bytes) -> None:
    p = prefix + b"config/"
    changes: list[ConfigChange] = []
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        await client.put(p + b"a", "1")
        async with AsyncConfigWatcher(client, p) as config:
            config.on_change(changes.append)
            before = (await client.put(p + b"b", "2")).header.revision
            assert await config.wait_for(before, timeout=WAIT)
            restartable.kill()
            restartable.revive()
            after = (await client.put(p + b"a", "changed")).header.revision
            assert await config.wait_for(after, timeout=WAIT)
            assert dict(config) == {"a": b"changed", "b": b"2"}
    # the watch resumed where it was: each change once, and no reload (nothing compacted)
    assert changes == [
        ConfigChange(before, {"b": b"2"}, frozenset()),
        ConfigChange(after, {"a": b"changed"}, frozenset()),
    ]


async def test_never_stale_silently(backend: Backend, prefix: bytes) -> None:
    client = AsyncClient(backend.endpoint)
    config = AsyncConfigWatcher(client, prefix + b"config/")
    await config.start()
    await client.close()  # the watch ends with the client
    with pytest.raises(ClientClosedError):
        await config.wait_for(10**9, timeout=10)
    with pytest.raises(ClientClosedError):
        _ = config["anything"]
    await config.close()
