"""The key translation of namespace views, at its edges (pure: no server needed)."""

from __future__ import annotations

from etcd3py import _methods as M
from etcd3py._keys import FROM_KEY
from etcd3py._namespace import Namespace
from etcd3py._proto import rpc_pb2
from etcd3py._txn import Delete, Get, Put, Txn, Value, txn_request


def test_a_range_to_the_end_of_the_keyspace_ends_at_the_prefix_end() -> None:
    ns = Namespace(b"a/")
    assert ns.range(b"x", FROM_KEY) == (b"a/x", b"a0")
    assert ns.range(FROM_KEY, FROM_KEY) == (b"a/\0", b"a0")  # the whole namespace
    assert ns.range(b"x", b"") == (b"a/x", b"")  # one key
    assert ns.range(b"x", b"y") == (b"a/x", b"a/y")


def test_a_prefix_of_0xff_bytes_has_no_end_but_the_keyspace_s() -> None:
    ns = Namespace(b"\xff\xff")
    assert ns.range(b"k", FROM_KEY) == (b"\xff\xffk", FROM_KEY)


def test_nested_transactions_are_translated_all_the_way_down() -> None:
    request = txn_request(
        [Value("c") == "1", Value("r", range_end="s") == "1"],
        [Txn([Value("n") == "1"], [Put("p", "v"), Delete("d", prefix=True)], [Get("g")])],
        [],
    )
    Namespace(b"ns/").outbound(M.TXN, request)
    assert [(c.key, c.range_end) for c in request.compare] == [
        (b"ns/c", b""),
        (b"ns/r", b"ns/s"),
    ]
    inner = request.success[0].request_txn
    assert inner.compare[0].key == b"ns/n"
    assert inner.success[0].request_put.key == b"ns/p"
    deleted = inner.success[1].request_delete_range
    assert (deleted.key, deleted.range_end) == (b"ns/d", b"ns/e")
    assert inner.failure[0].request_range.key == b"ns/g"


def test_lease_keys_outside_the_view_are_left_out() -> None:
    response = rpc_pb2.LeaseTimeToLiveResponse(keys=[b"ns/a", b"ns/", b"nt/b", b"n"])
    Namespace(b"ns/").inbound(M.LEASE_TIME_TO_LIVE, response)
    assert list(response.keys) == [b"a"]  # the prefix itself would be the empty key
