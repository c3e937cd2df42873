"""get_paged: a range read a page at a time, every page at the first page's revision."""

from __future__ import annotations

import pytest

from etcd3py import ArgumentError, AsyncClient, CompactedError

pytestmark = pytest.mark.anyio


async def _fill(aclient: AsyncClient, prefix: bytes, count: int) -> list[bytes]:
    keys = [prefix + b"%03d" % i for i in range(count)]
    for key in keys:
        await aclient.put(key, b"v" + key)
    return keys


async def test_pages_cover_the_prefix_in_key_order(aclient: AsyncClient, prefix: bytes) -> None:
    keys = await _fill(aclient, prefix, 23)
    await aclient.put(prefix[:-1] + b"0", b"outside")  # sorts right after the prefix
    for size in (1, 5, 23, 1000):
        got = [
            (kv.key, kv.value)
            async for kv in aclient.get_paged(prefix, prefix=True, page_size=size)
        ]
        assert got == [(k, b"v" + k) for k in keys]
    whole = await aclient.get(prefix, prefix=True)
    paged = [kv.mod_revision async for kv in aclient.get_paged(prefix, prefix=True, page_size=4)]
    assert paged == [kv.mod_revision for kv in whole.kvs]


async def test_every_page_is_read_at_the_first_pages_revision(
    aclient: AsyncClient, prefix: bytes
) -> None:
    keys = await _fill(aclient, prefix, 10)
    pages = aclient.get_paged(prefix, prefix=True, page_size=3)
    first = await pages.__anext__()
    # after the first page: a later key deleted, another changed, a new one added
    await aclient.delete(keys[7])
    await aclient.put(keys[5], b"changed")
    await aclient.put(prefix + b"999", b"new")
    rest = [kv async for kv in pages]
    assert [first.key] + [kv.key for kv in rest] == keys
    assert all(kv.value == b"v" + kv.key for kv in rest)
    now = [kv.key async for kv in aclient.get_paged(prefix, prefix=True, page_size=3)]
    assert now == [k for k in keys if k != keys[7]] + [prefix + b"999"]


async def test_ranges_revision_and_keys_only(aclient: AsyncClient, prefix: bytes) -> None:
    keys = await _fill(aclient, prefix, 8)
    ranged = [kv.key async for kv in aclient.get_paged(keys[2], range_end=keys[6], page_size=2)]
    assert ranged == keys[2:6]
    tail = [kv.key async for kv in aclient.get_paged(keys[5], from_key=True, page_size=2)]
    assert tail[:3] == keys[5:]
    one = [kv.value async for kv in aclient.get_paged(keys[4])]
    assert one == [b"v" + keys[4]]
    old = (await aclient.get(keys[0])).header.revision
    await aclient.put(keys[0], b"later")
    at_old = [kv.value async for kv in aclient.get_paged(keys[0], revision=old)]
    assert at_old == [b"v" + keys[0]]
    bare = [kv async for kv in aclient.get_paged(prefix, prefix=True, page_size=3, keys_only=True)]
    assert [kv.key for kv in bare] == keys and all(kv.value == b"" for kv in bare)
    assert [kv async for kv in aclient.get_paged(prefix + b"none/", prefix=True)] == []


async def test_a_compaction_past_the_snapshot_is_told(aclient: AsyncClient, prefix: bytes) -> None:
    keys = await _fill(aclient, prefix, 6)
    pages = aclient.get_paged(prefix, prefix=True, page_size=2)
    await pages.__anext__()
    done = await aclient.put(keys[0], b"again")
    await aclient.compact(done.header.revision)
    with pytest.raises(CompactedError):
        async for _ in pages:
            pass


async def test_page_size_must_be_positive(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(ArgumentError):
        async for _ in aclient.get_paged(prefix, prefix=True, page_size=0):
            pass
