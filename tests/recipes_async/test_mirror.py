"""The mirror, from each server to another server_ref: copy, follow, relist, ride outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from etcd3py import ArgumentError, ArgumentTypeError, AsyncClient, Put
from etcd3py.recipes import AsyncMirror
from etcd3py.server_ref import EmbeddedServer
from tests.support.backends import Backend
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

WAIT = 20.0  # the longest any wait of the fault tests may take


@pytest.fixture
def destination() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as server:
        yield server


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


async def contents(client: AsyncClient, prefix: bytes) -> dict[bytes, bytes]:
    return {kv.key: kv.value for kv in (await client.get(prefix, prefix=True)).kvs}


async def test_copies_then_follows_puts_and_deletes(
    aclient: AsyncClient, destination: EmbeddedServer, prefix: bytes
) -> None:
    src = prefix + b"app/"
    await aclient.txn(success=[Put(src + b"k%03d" % i, b"v%d" % i) for i in range(100)])
    await aclient.txn(success=[Put(src + b"m%03d" % i, b"w%d" % i) for i in range(100)])
    async with AsyncClient(destination.endpoint) as dest:
        await dest.put(b"copy/stale", "not in the source")
        await dest.put(b"other", "outside the prefix")
        reports: list[int] = []
        mirror = AsyncMirror(aclient, dest, src, dest_prefix=b"copy/", prune=True)
        mirror.on_progress(lambda m: reports.append(m.revision))
        async with mirror:
            now = (await aclient.put(src + b"k000", "changed")).header.revision
            await aclient.delete(src + b"m", prefix=True)
            last = (await aclient.put(src + b"new", "n")).header.revision
            assert await mirror.wait_for(last, timeout=WAIT)
            want = {b"copy/k%03d" % i: b"v%d" % i for i in range(100)}
            want |= {b"copy/k000": b"changed", b"copy/new": b"n"}
            assert await contents(dest, b"copy/") == want
            assert (await dest.get(b"other")).value == b"outside the prefix"
            assert mirror.revision >= last and reports == sorted(reports) and now in reports
            # 200 copied (in batches of at most 128) + 1 pruned, then 1 + 100 + 1
            assert mirror.count == 201 + 102
            quiet = (await aclient.put(prefix + b"elsewhere", "x")).header.revision
            assert await mirror.wait_for(quiet, timeout=WAIT)  # a bookmark, nothing to write
            assert mirror.count == 303 and mirror.error is None


async def test_relists_after_compaction_and_mirrors_the_difference(
    aclient: AsyncClient, backend: Backend, destination: EmbeddedServer, prefix: bytes
) -> None:
    await aclient.put(prefix + b"a", "1")
    await aclient.put(prefix + b"keep", "k")
    with TcpProxy(port_of(backend.endpoint)) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=2) as source,
            AsyncClient(destination.endpoint) as dest,
            AsyncMirror(source, dest, prefix) as mirror,
        ):
            assert await contents(dest, prefix) == {prefix + b"a": b"1", prefix + b"keep": b"k"}
            proxy.down()  # the source cut off while its history moves on...
            await aclient.delete(prefix + b"a")
            now = (await aclient.put(prefix + b"b", "2")).header.revision
            await aclient.compact(now)  # ...and is compacted (Go's mirror would stop here)
            proxy.up()
            assert await mirror.wait_for(now, timeout=WAIT)
            assert await contents(dest, prefix) == {prefix + b"keep": b"k", prefix + b"b": b"2"}


async def test_rides_out_a_destination_outage(
    aclient: AsyncClient, destination: EmbeddedServer, prefix: bytes
) -> None:
    await aclient.put(prefix + b"a", "1")
    with TcpProxy(port_of(destination.endpoint)) as proxy:
        async with (
            AsyncClient(proxy.endpoint, timeout=1) as dest,
            AsyncMirror(aclient, dest, prefix) as mirror,
        ):
            proxy.down()
            now = (await aclient.put(prefix + b"b", "2")).header.revision
            assert not await mirror.wait_for(now, timeout=2)  # cannot write it yet
            proxy.up()
            assert await mirror.wait_for(now, timeout=WAIT)
            assert await contents(dest, prefix) == {prefix + b"a": b"1", prefix + b"b": b"2"}
            assert mirror.error is None


async def test_refuses_bad_arguments(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(ArgumentTypeError, match="destination"):
        AsyncMirror(aclient, "not a client", prefix)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="client"):
        AsyncMirror("not a client", aclient, prefix)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="prune"):
        AsyncMirror(aclient, aclient, prefix, prune="yes")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="non-empty"):
        AsyncMirror(aclient, aclient, b"")
    with pytest.raises(ArgumentError, match="dest_prefix"):  # it would copy its own copies
        AsyncMirror(aclient, aclient, prefix, dest_prefix=prefix + b"copy/")
    mirror = AsyncMirror(aclient, aclient, prefix + b"a/", dest_prefix=prefix + b"b/")
    with pytest.raises(ArgumentError, match="revision"):
        await mirror.wait_for(-1)
