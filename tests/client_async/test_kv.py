"""KV through the client: every option of get/put/delete, str or bytes in, bytes out."""

from __future__ import annotations

import grpc
import pytest

from etcd3py import (
    ArgumentError,
    ArgumentTypeError,
    AsyncClient,
    CompactedError,
    EmptyKeyError,
    FutureRevisionError,
    GetResponse,
    InvalidArgumentError,
    KeyNotFoundError,
    LeaseNotFoundError,
    LeaseProvidedError,
    PutResponse,
    ValueProvidedError,
)

pytestmark = pytest.mark.anyio


async def test_put_and_get(aclient: AsyncClient, prefix: bytes) -> None:
    p = prefix.decode()
    put = await aclient.put(p + "k", "välue")
    assert isinstance(put, PutResponse) and put.prev_kv is None
    got = await aclient.get(p + "k")
    assert isinstance(got, GetResponse)
    assert got.value == "välue".encode() and got.count == 1 and not got.more
    kv = got.kvs[0]
    assert (kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (
        prefix + b"k",
        put.header.revision,
        put.header.revision,
        1,
        0,
    )
    assert got.header.revision == put.header.revision
    assert [k.key for k in got] == [prefix + b"k"] and len(got) == 1


async def test_missing_key(aclient: AsyncClient, prefix: bytes) -> None:
    got = await aclient.get(prefix + b"missing")
    assert got.value is None and got.kvs == [] and got.count == 0


async def test_prev_kv(aclient: AsyncClient, prefix: bytes) -> None:
    await aclient.put(prefix + b"k", b"1")
    resp = await aclient.put(prefix + b"k", b"2", prev_kv=True)
    assert resp.prev_kv is not None and resp.prev_kv.value == b"1"


async def test_ranges(aclient: AsyncClient, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c", b"d/1", b"d/2"):
        await aclient.put(prefix + name, name)
    ranged = await aclient.get(prefix + b"a", range_end=prefix + b"c")
    assert [kv.value for kv in ranged.kvs] == [b"a", b"b"]
    prefixed = await aclient.get(prefix + b"d/", prefix=True)
    assert [kv.value for kv in prefixed.kvs] == [b"d/1", b"d/2"]
    from_key = await aclient.get(prefix + b"c", from_key=True, limit=2)
    assert [kv.value for kv in from_key.kvs] == [b"c", b"d/1"]


async def test_limit_sort_and_counts(aclient: AsyncClient, prefix: bytes) -> None:
    for name, value in ((b"a", b"3"), (b"b", b"1"), (b"c", b"2")):
        await aclient.put(prefix + name, value)
    top = await aclient.get(prefix, prefix=True, sort_target="value", sort_order="descend", limit=2)
    assert [kv.key for kv in top.kvs] == [prefix + b"a", prefix + b"c"]
    assert top.more and top.count == 3
    by_create = await aclient.get(prefix, prefix=True, sort_target="create", sort_order="ascend")
    assert [kv.key for kv in by_create.kvs] == [prefix + b"a", prefix + b"b", prefix + b"c"]
    counted = await aclient.get(prefix, prefix=True, count_only=True)
    assert counted.count == 3 and counted.kvs == []
    keys = await aclient.get(prefix, prefix=True, keys_only=True)
    assert [kv.value for kv in keys.kvs] == [b"", b"", b""]


async def test_revisions_and_filters(aclient: AsyncClient, prefix: bytes) -> None:
    r1 = (await aclient.put(prefix + b"k", b"1")).header.revision
    r2 = (await aclient.put(prefix + b"j", b"2")).header.revision
    await aclient.put(prefix + b"k", b"3")
    assert (await aclient.get(prefix + b"k", revision=r1)).value == b"1"
    assert (await aclient.get(prefix + b"k", serializable=True)).value == b"3"
    modded = await aclient.get(prefix, prefix=True, min_mod_revision=r2 + 1)
    assert [kv.key for kv in modded.kvs] == [prefix + b"k"]
    created = await aclient.get(prefix, prefix=True, max_create_revision=r1)
    assert [kv.key for kv in created.kvs] == [prefix + b"k"]
    with pytest.raises(FutureRevisionError):
        await aclient.get(prefix + b"k", revision=r2 + 10_000)


async def test_delete(aclient: AsyncClient, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c"):
        await aclient.put(prefix + name, name)
    one = await aclient.delete(prefix + b"a", prev_kv=True)
    assert one.deleted == 1 and [kv.value for kv in one.prev_kvs] == [b"a"]
    rest = await aclient.delete(prefix, prefix=True)
    assert rest.deleted == 2
    assert (await aclient.get(prefix, prefix=True)).count == 0


async def test_ignore_value_and_lease(aclient: AsyncClient, prefix: bytes) -> None:
    async with aclient.lease(60) as lease:
        await aclient.put(prefix + b"k", b"v", lease=lease)
        await aclient.put(prefix + b"k", b"", ignore_value=True, ignore_lease=True)
        kv = (await aclient.get(prefix + b"k")).kvs[0]
        assert (kv.value, kv.lease, kv.version) == (b"v", lease.id, 2)
    with pytest.raises(KeyNotFoundError):
        await aclient.put(prefix + b"missing", b"", ignore_value=True)


async def test_compaction(aclient: AsyncClient, prefix: bytes) -> None:
    r1 = (await aclient.put(prefix + b"k", b"1")).header.revision
    r2 = (await aclient.put(prefix + b"k", b"2")).header.revision
    await aclient.compact(r2, physical=True)
    with pytest.raises(CompactedError) as info:
        await aclient.get(prefix + b"k", revision=r1)
    assert isinstance(info.value.__cause__, grpc.RpcError)
    assert (await aclient.get(prefix + b"k", revision=r2)).value == b"2"


async def test_bad_input_fails_before_the_network(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(EmptyKeyError):
        await aclient.put("", "v")
    with pytest.raises(EmptyKeyError):
        await aclient.get(b"")
    with pytest.raises(ArgumentTypeError, match="key must be str or bytes, not int 5"):
        await aclient.get(5)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="value must be str or bytes, not None"):
        await aclient.put(prefix + b"k", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="at most one of prefix, range_end, from_key"):
        await aclient.get(prefix, prefix=True, range_end=b"z")
    with pytest.raises(ArgumentError, match="revision must be an int, at least 0, not -1"):
        await aclient.get(prefix + b"k", revision=-1)
    with pytest.raises(ArgumentError, match="sort_target must be one of"):
        await aclient.get(prefix + b"k", sort_target="size")
    with pytest.raises(ValueProvidedError):
        await aclient.put(prefix + b"k", b"v", ignore_value=True)
    with pytest.raises(LeaseProvidedError):
        await aclient.put(prefix + b"k", b"v", lease=7, ignore_lease=True)
    with pytest.raises(ArgumentTypeError, match=r"lease must be a lease id \(int\) or a Lease"):
        await aclient.put(prefix + b"k", b"v", lease="7")  # type: ignore[arg-type]
    assert (await aclient.get(prefix, prefix=True)).count == 0  # nothing was written


async def test_missing_lease(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(LeaseNotFoundError) as info:
        await aclient.put(prefix + b"k", b"v", lease=0x7E57)
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert "requested lease not found" in str(info.value)
