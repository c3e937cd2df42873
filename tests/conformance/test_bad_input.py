"""Bad input gets etcd's answer and breaks nothing: not the server, not other streams."""

from __future__ import annotations

import grpc
import pytest

from etcd3py import _etcd_errors as E
from etcd3py._proto import kv_pb2, rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream, prefix_end
from tests.support.errors import raises_etcd

RR = rpc_pb2.RangeRequest
LIMIT = 1536 * 1024  # --max-request-bytes, the same default on both servers
GARBAGE = b"\x0a\xff\xff\xff\xff\x0f"  # a field whose length runs off the end


def test_request_too_large(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    wid = watch.create(prefix, range_end=prefix_end(prefix)).watch_id
    raises_etcd(E.REQUEST_TOO_LARGE, backend.put, prefix + b"big", b"x" * (LIMIT + 64))
    big_op = rpc_pb2.RequestOp(
        request_put=rpc_pb2.PutRequest(key=prefix + b"big", value=b"x" * (LIMIT + 64))
    )
    raises_etcd(E.REQUEST_TOO_LARGE, backend.txn, success=[big_op])
    assert backend.range(prefix + b"big").count == 0
    # just under the limit is fine
    backend.put(prefix + b"ok", b"y" * (LIMIT - 1024))
    resp = watch.next()
    assert resp.watch_id == wid and [e.kv.key for e in resp.events] == [prefix + b"ok"]


def test_message_over_the_grpc_limit(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    wid = watch.create(prefix + b"after").watch_id
    with pytest.raises(grpc.RpcError) as info:
        backend.put(prefix + b"huge", b"x" * (LIMIT + 600 * 1024))
    # gRPC itself refuses it (the wording differs between Go's gRPC and gRPC core)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    backend.put(prefix + b"after")
    assert watch.next().watch_id == wid


def test_unparseable_request(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    wid = watch.create(prefix + b"k").watch_id
    put = backend.channel.unary_unary(
        "/etcdserverpb.KV/Put",
        request_serializer=lambda raw: raw,
        response_deserializer=rpc_pb2.PutResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        put(GARBAGE, timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert (info.value.details() or "").startswith("grpc: error unmarshalling request: ")
    raw_watch = backend.channel.stream_stream(
        "/etcdserverpb.Watch/Watch",
        request_serializer=lambda raw: raw,
        response_deserializer=rpc_pb2.WatchResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        list(raw_watch(iter([GARBAGE]), timeout=RPC_TIMEOUT))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert (info.value.details() or "").startswith("grpc: failed to unmarshal the received message")
    # neither the server nor the other stream noticed
    backend.put(prefix + b"k")
    assert watch.next().watch_id == wid


def test_unknown_watch_request_is_ignored(backend: Backend, prefix: bytes) -> None:
    raw_watch = backend.channel.stream_stream(
        "/etcdserverpb.Watch/Watch",
        request_serializer=lambda raw: raw,
        response_deserializer=rpc_pb2.WatchResponse.FromString,
    )
    create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=prefix + b"k"))
    # field 9 is no field of WatchRequest: the request carries nothing known
    requests = [b"\x4a\x00", b"", create.SerializeToString()]
    call = raw_watch(iter(requests), timeout=RPC_TIMEOUT)
    try:
        first = next(call)
        assert first.created and not first.canceled
    finally:
        call.cancel()


def test_unknown_sort_order_leaves_key_order(backend: Backend, prefix: bytes) -> None:
    for name in (b"b", b"a", b"c"):
        backend.put(prefix + name)
    resp = backend.range(prefix, range_end=prefix_end(prefix), sort_order=7, limit=2)
    assert [kv.key for kv in resp.kvs] == [prefix + b"a", prefix + b"b"] and resp.more


def test_unknown_sort_target(backend: Backend, prefix: bytes) -> None:
    if backend.kind == "etcd":
        # etcd 3.5.1 departs from its API here: an unknown sort target dereferences a
        # nil sorter and the whole server process panics (seen while writing this
        # suite), so the request cannot be put to the shared etcd.
        pytest.skip("etcd 3.5.1 crashes on an unknown sort target")
    backend.put(prefix + b"a")
    with pytest.raises(grpc.RpcError) as info:
        backend.range(prefix, range_end=prefix_end(prefix), sort_target=42)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sort target" in (info.value.details() or "")
    assert backend.range(prefix + b"a").count == 1


def test_unknown_watch_filter_is_ignored(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    watch.create(prefix + b"k", filters=[5])
    rev = backend.put(prefix + b"k").header.revision
    event = watch.events(1)[0]
    assert (event.type, event.kv.mod_revision) == (kv_pb2.Event.PUT, rev)


def test_unknown_compare_target_compares_nothing(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"k", b"v")
    C = rpc_pb2.Compare
    # an unknown target compares equal to anything
    assert backend.txn(compare=[C(key=prefix + b"k", target=17, result=C.EQUAL)]).succeeded
    assert not backend.txn(compare=[C(key=prefix + b"k", target=17, result=C.LESS)]).succeeded
