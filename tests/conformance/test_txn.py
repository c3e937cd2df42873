"""Txn: comparisons, branches, nesting and etcd's request checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from tests.support.backends import Backend, prefix_end
from tests.support.errors import raises_etcd

C = rpc_pb2.Compare


def put(key: bytes, value: bytes = b"", **kw: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, **kw))


def get(key: bytes, **kw: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key, **kw))


def delete(key: bytes, **kw: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, **kw))


def txn(**kw: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_txn=rpc_pb2.TxnRequest(**kw))


def holds(backend: Backend, compare: rpc_pb2.Compare) -> bool:
    return backend.txn(compare=[compare]).succeeded


@pytest.fixture
def subject(backend: Backend, prefix: bytes, grant: Callable[..., int]) -> dict[str, Any]:
    """A key at version 2 with a lease, and the figures to compare it with."""
    k = prefix + b"k"
    lease = grant(60)
    create = backend.put(k, b"m", lease=lease).header.revision
    mod = backend.put(k, b"m", lease=lease).header.revision
    return {"key": k, "create": create, "mod": mod, "lease": lease}


@pytest.mark.parametrize(
    ("target", "field", "attr"),
    [
        (C.VERSION, "version", None),
        (C.CREATE, "create_revision", "create"),
        (C.MOD, "mod_revision", "mod"),
        (C.LEASE, "lease", "lease"),
    ],
)
def test_integer_targets_with_every_result(
    backend: Backend, subject: dict[str, Any], target: int, field: str, attr: str | None
) -> None:
    actual = 2 if attr is None else subject[attr]

    def cmp(result: int, value: int) -> rpc_pb2.Compare:
        return C(key=subject["key"], target=target, result=result, **{field: value})

    assert holds(backend, cmp(C.EQUAL, actual))
    assert not holds(backend, cmp(C.EQUAL, actual + 1))
    assert holds(backend, cmp(C.NOT_EQUAL, actual + 1))
    assert not holds(backend, cmp(C.NOT_EQUAL, actual))
    assert holds(backend, cmp(C.GREATER, actual - 1))
    assert not holds(backend, cmp(C.GREATER, actual))
    assert holds(backend, cmp(C.LESS, actual + 1))
    assert not holds(backend, cmp(C.LESS, actual))


def test_value_target_with_every_result(backend: Backend, subject: dict[str, Any]) -> None:
    def cmp(result: int, value: bytes) -> rpc_pb2.Compare:
        return C(key=subject["key"], target=C.VALUE, result=result, value=value)

    assert holds(backend, cmp(C.EQUAL, b"m"))
    assert not holds(backend, cmp(C.EQUAL, b"n"))
    assert holds(backend, cmp(C.NOT_EQUAL, b"n"))
    assert holds(backend, cmp(C.GREATER, b"l"))
    assert not holds(backend, cmp(C.GREATER, b"m"))
    assert holds(backend, cmp(C.LESS, b"mm"))
    assert not holds(backend, cmp(C.LESS, b"m"))


def test_missing_key_compares_as_zero_but_has_no_value(backend: Backend, prefix: bytes) -> None:
    missing = prefix + b"missing"
    assert holds(backend, C(key=missing, target=C.CREATE, result=C.EQUAL, create_revision=0))
    assert holds(backend, C(key=missing, target=C.VERSION, result=C.EQUAL, version=0))
    assert not holds(backend, C(key=missing, target=C.VALUE, result=C.EQUAL, value=b""))
    assert not holds(backend, C(key=missing, target=C.VALUE, result=C.NOT_EQUAL, value=b"x"))


def test_target_union_of_another_kind_compares_with_zero(
    backend: Backend, subject: dict[str, Any]
) -> None:
    # target VERSION but the mod_revision field set: etcd compares the version with 0
    c = C(key=subject["key"], target=C.VERSION, result=C.GREATER, mod_revision=10**9)
    assert holds(backend, c)


def test_range_compare_needs_every_key(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"a", b"1")
    backend.put(prefix + b"b", b"1")
    end = prefix_end(prefix)
    assert holds(backend, C(key=prefix, range_end=end, target=C.VALUE, result=C.EQUAL, value=b"1"))
    backend.put(prefix + b"c", b"2")
    assert not holds(
        backend, C(key=prefix, range_end=end, target=C.VALUE, result=C.EQUAL, value=b"1")
    )
    assert holds(backend, C(key=prefix, range_end=end, target=C.VERSION, result=C.EQUAL, version=1))


def test_all_compares_must_hold(backend: Backend, subject: dict[str, Any]) -> None:
    k = subject["key"]
    yes = C(key=k, target=C.VERSION, result=C.EQUAL, version=2)
    no = C(key=k, target=C.VALUE, result=C.EQUAL, value=b"other")
    assert backend.txn(compare=[yes, yes]).succeeded
    assert not backend.txn(compare=[yes, no]).succeeded


def test_branches_and_their_responses(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    backend.put(k, b"v")
    guard = C(key=k, target=C.VALUE, result=C.EQUAL, value=b"v")
    before = backend.revision()
    ok = backend.txn(
        compare=[guard],
        success=[put(prefix + b"s", b"1"), get(k), delete(prefix + b"none")],
        failure=[put(prefix + b"f", b"1")],
    )
    assert ok.succeeded and ok.header.revision == before + 1
    kinds = [r.WhichOneof("response") for r in ok.responses]
    assert kinds == ["response_put", "response_range", "response_delete_range"]
    assert [kv.value for kv in ok.responses[1].response_range.kvs] == [b"v"]
    assert ok.responses[2].response_delete_range.deleted == 0
    failed = backend.txn(
        compare=[C(key=k, target=C.VALUE, result=C.EQUAL, value=b"nope")],
        success=[put(prefix + b"s2")],
        failure=[get(prefix + b"s")],
    )
    assert not failed.succeeded
    assert failed.header.revision == before + 1  # a read-only branch writes nothing
    assert [kv.value for kv in failed.responses[0].response_range.kvs] == [b"1"]
    assert backend.range(prefix + b"f").count == 0


def test_writes_of_a_txn_share_one_revision(backend: Backend, prefix: bytes) -> None:
    before = backend.revision()
    resp = backend.txn(success=[put(prefix + b"a"), put(prefix + b"b"), delete(prefix + b"zz")])
    assert resp.header.revision == before + 1
    mods = {kv.mod_revision for kv in backend.range(prefix, range_end=prefix_end(prefix)).kvs}
    assert mods == {before + 1}
    for r in resp.responses[:2]:
        assert r.response_put.header.revision == before + 1


def test_reads_inside_a_txn_see_its_earlier_writes(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    backend.put(k, b"old")
    resp = backend.txn(success=[get(k), put(k, b"new"), get(k)])
    first, _, second = resp.responses
    assert [kv.value for kv in first.response_range.kvs] == [b"old"]
    assert [kv.value for kv in second.response_range.kvs] == [b"new"]
    assert second.response_range.header.revision == resp.header.revision
    assert first.response_range.header.revision == resp.header.revision - 1


def test_put_prev_kv_in_txn(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    backend.put(k, b"old")
    resp = backend.txn(success=[put(k, b"new", prev_kv=True)])
    assert resp.responses[0].response_put.prev_kv.value == b"old"


def test_nested_txns(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    backend.put(k, b"v")
    is_v = C(key=k, target=C.VALUE, result=C.EQUAL, value=b"v")
    not_v = C(key=k, target=C.VALUE, result=C.EQUAL, value=b"w")
    resp = backend.txn(
        compare=[is_v],
        success=[
            txn(compare=[not_v], success=[put(prefix + b"a")], failure=[put(prefix + b"b")]),
            txn(compare=[is_v], success=[put(prefix + b"c"), get(prefix + b"b")]),
        ],
    )
    assert resp.succeeded
    inner1, inner2 = (r.response_txn for r in resp.responses)
    assert not inner1.succeeded and inner2.succeeded
    # etcd gives a nested transaction's answer a header, left empty
    assert inner1.HasField("header") and inner1.header == rpc_pb2.ResponseHeader()
    assert [kv.key for kv in inner2.responses[1].response_range.kvs] == [prefix + b"b"]
    got = backend.range(prefix + b"a", range_end=prefix + b"d")
    assert [kv.key for kv in got.kvs] == [prefix + b"b", prefix + b"c"]


def test_puts_on_both_nested_branches_are_not_duplicates(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    resp = backend.txn(success=[txn(success=[put(k, b"then")], failure=[put(k, b"else")])])
    assert resp.succeeded
    assert backend.range(k).kvs[0].value == b"then"


def test_lease_is_checked_only_on_the_chosen_branch(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    resp = backend.txn(
        compare=[C(key=k, target=C.VERSION, result=C.EQUAL, version=0)],
        success=[put(k, b"ok")],
        failure=[put(k, b"bad", lease=0x7E57)],
    )
    assert resp.succeeded
    raises_etcd(
        E.LEASE_NOT_FOUND,
        backend.txn,
        compare=[C(key=k, target=C.VERSION, result=C.EQUAL, version=0)],
        success=[put(k, b"ok")],
        failure=[put(prefix + b"other"), put(k, b"bad", lease=0x7E57)],
    )
    assert backend.range(prefix + b"other").count == 0  # nothing of the refused txn landed


def test_ignore_value_in_txn_needs_the_key(backend: Backend, prefix: bytes) -> None:
    raises_etcd(E.KEY_NOT_FOUND, backend.txn, success=[put(prefix + b"k", ignore_value=True)])


def test_operation_limit(backend: Backend, prefix: bytes) -> None:
    ops = [put(prefix + b"%03d" % i) for i in range(128)]
    assert backend.txn(success=ops).succeeded
    too_many = [*ops, put(prefix + b"x")]
    raises_etcd(E.TOO_MANY_OPS, backend.txn, success=too_many)
    raises_etcd(E.TOO_MANY_OPS, backend.txn, failure=too_many)
    compares = [C(key=prefix + b"000", target=C.VERSION, result=C.GREATER, version=0)] * 129
    raises_etcd(E.TOO_MANY_OPS, backend.txn, compare=compares)


def test_duplicate_keys_are_refused(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    raises_etcd(E.DUPLICATE_KEY, backend.txn, success=[put(k), put(k)])
    raises_etcd(E.DUPLICATE_KEY, backend.txn, success=[delete(k), put(k)])
    raises_etcd(
        E.DUPLICATE_KEY, backend.txn, success=[delete(prefix, range_end=prefix_end(prefix)), put(k)]
    )
    raises_etcd(E.DUPLICATE_KEY, backend.txn, failure=[put(k), txn(success=[put(k)])])
    raises_etcd(E.DUPLICATE_KEY, backend.txn, success=[delete(k), txn(failure=[put(k)])])
    assert backend.range(k).count == 0
    # two deletes of one key, and a put next to a read, are fine
    assert backend.txn(success=[delete(k), delete(k), get(k)]).succeeded
    assert backend.txn(success=[get(k), put(k)]).succeeded


def test_from_key_delete_does_not_count_as_duplicate(backend: Backend, prefix: bytes) -> None:
    # etcd 3.5 keeps the raw "\0" end of a from-key delete in its overlap check,
    # so it overlaps nothing: the put survives the delete of the same txn.
    k = prefix + b"k"
    backend.put(k, b"old")
    resp = backend.txn(success=[delete(prefix + b"k", range_end=b"\x00"), put(k, b"new")])
    assert resp.succeeded
    assert resp.responses[0].response_delete_range.deleted >= 1
    assert backend.range(k).kvs[0].value == b"new"


def test_malformed_txns_are_refused(backend: Backend, prefix: bytes) -> None:
    raises_etcd(E.KEY_NOT_FOUND, backend.txn, success=[rpc_pb2.RequestOp()])
    raises_etcd(E.EMPTY_KEY, backend.txn, compare=[C(key=b"", target=C.VERSION)])
    raises_etcd(E.EMPTY_KEY, backend.txn, success=[put(b"")])
    raises_etcd(E.EMPTY_KEY, backend.txn, failure=[get(b"")])
    raises_etcd(E.EMPTY_KEY, backend.txn, success=[txn(success=[delete(b"")])])


def test_revision_checks_of_reads_in_a_txn(backend: Backend, prefix: bytes) -> None:
    current = backend.revision()
    raises_etcd(E.FUTURE_REV, backend.txn, success=[get(prefix + b"k", revision=current + 1000)])


def test_unknown_compare_result_holds(backend: Backend, subject: dict[str, Any]) -> None:
    # etcd treats a comparison result it does not know as satisfied
    assert holds(backend, C(key=subject["key"], target=C.VERSION, result=9, version=12345))


def test_empty_txn(backend: Backend) -> None:
    before = backend.revision()
    resp = backend.txn()
    assert resp.succeeded and list(resp.responses) == [] and resp.header.revision == before
