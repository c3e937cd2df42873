"""Transactions through the client: comparison operators, operations, nesting."""

from __future__ import annotations

import pytest

from etcd3py import (
    ArgumentTypeError,
    AsyncClient,
    CreateRevision,
    Delete,
    DeleteResponse,
    DuplicateKeyError,
    Get,
    GetResponse,
    LeaseId,
    ModRevision,
    Put,
    PutResponse,
    TooManyOpsError,
    Txn,
    TxnResponse,
    Value,
    Version,
)

pytestmark = pytest.mark.anyio


async def test_compare_and_swap(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    await aclient.put(k, "v1")
    swapped = await aclient.txn(
        compare=[Value(k) == "v1"], success=[Put(k, "v2"), Get(k)], failure=[Get(k)]
    )
    assert swapped.succeeded
    put, get = swapped.responses
    assert isinstance(put, PutResponse) and isinstance(get, GetResponse)
    assert get.value == b"v2"
    again = await aclient.txn(compare=[Value(k) == "v1"], success=[Put(k, "v3")], failure=[Get(k)])
    assert not again.succeeded
    only = again.responses[0]
    assert isinstance(only, GetResponse) and only.value == b"v2"


async def test_every_target_and_operator(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    first = (await aclient.put(k, "m")).header.revision
    second = (await aclient.put(k, "m")).header.revision

    async def holds(*compare: object) -> bool:
        return (await aclient.txn(compare=list(compare))).succeeded  # type: ignore[arg-type]

    assert await holds(Version(k) == 2, Version(k) != 3, Version(k) > 1, Version(k) < 3)
    assert await holds(CreateRevision(k) == first, ModRevision(k) == second)
    assert await holds(ModRevision(k) > first, CreateRevision(k) < second)
    assert await holds(Value(k) > "l", Value(k) < b"n", Value(k) != "x")
    assert await holds(LeaseId(k) == 0)
    assert not await holds(Version(k) == 2, Value(k) == "other")
    assert await holds(CreateRevision(prefix + b"missing") == 0)
    assert await holds(Version(prefix, prefix=True) == 2)


async def test_comparisons_reject_what_etcd_cannot_do(prefix: bytes) -> None:
    with pytest.raises(TypeError, match="==, !=, < and >"):
        Version(prefix + b"k") >= 1  # noqa: B015
    with pytest.raises(ArgumentTypeError, match="the operand of Version must be an int, not str"):
        Version(prefix + b"k") == "1"  # noqa: B015
    with pytest.raises(TypeError, match="evaluated by etcd inside txn"):
        bool(Value(prefix + b"k") == "v")


async def test_delete_and_nested_txn(aclient: AsyncClient, prefix: bytes) -> None:
    await aclient.put(prefix + b"a", "1")
    await aclient.put(prefix + b"b", "1")
    resp = await aclient.txn(
        success=[
            Delete(prefix + b"a", prev_kv=True),
            Txn(compare=[Value(prefix + b"b") == "1"], success=[Put(prefix + b"c", "made")]),
        ]
    )
    deleted, nested = resp.responses
    assert isinstance(deleted, DeleteResponse) and deleted.deleted == 1
    assert isinstance(nested, TxnResponse) and nested.succeeded
    assert (await aclient.get(prefix + b"c")).value == b"made"
    assert isinstance(resp, TxnResponse)


async def test_lease_compare_with_a_lease_object(aclient: AsyncClient, prefix: bytes) -> None:
    async with aclient.lease(30) as lease:
        await aclient.put(prefix + b"k", "v", lease=lease)
        assert (await aclient.txn(compare=[LeaseId(prefix + b"k") == lease])).succeeded


async def test_server_side_txn_errors(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    with pytest.raises(DuplicateKeyError):
        await aclient.txn(success=[Put(k, "1"), Put(k, "2")])
    with pytest.raises(TooManyOpsError):
        await aclient.txn(success=[Put(prefix + b"%d" % i) for i in range(129)])
    assert (await aclient.get(prefix, prefix=True)).count == 0


async def test_bad_txn_arguments(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(ArgumentTypeError, match="compare must be comparisons such as"):
        await aclient.txn(compare=[True])  # type: ignore[list-item]
    with pytest.raises(ArgumentTypeError, match="operations Put, Get, Delete or Txn"):
        await aclient.txn(success=["put k v"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="sort_order must be one of"):
        Get(prefix + b"k", sort_order="sideways")
