"""A Watch stream whose client half-closes goes on: etcd 3.5.1's recvLoop ends without
ending the stream (its JSON gateway half-closes after a request body, and a watch
through it must go on)."""

from __future__ import annotations

from etcd3py._proto import rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend


def test_events_after_the_client_half_closed(backend: Backend, prefix: bytes) -> None:
    create = rpc_pb2.WatchCreateRequest(key=prefix + b"k")
    stream = backend.watch_stub.Watch(
        iter([rpc_pb2.WatchRequest(create_request=create)]), timeout=RPC_TIMEOUT
    )
    try:
        assert next(stream).created
        backend.put(prefix + b"k", b"after")
        response = next(stream)
        assert [e.kv.value for e in response.events] == [b"after"]
    finally:
        stream.cancel()
