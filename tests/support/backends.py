"""The two backends every behaviour test runs against, behind one small interface."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from etcd3py._keys import prefix_end
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc, v3election_pb2_grpc, v3lock_pb2_grpc

__all__ = ["RPC_TIMEOUT", "Backend", "WatchStream", "prefix_end"]

RPC_TIMEOUT = 10.0
# Let responses as large as etcd sends through (the client default is 4 MiB).
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


@dataclass
class Backend:
    """A running server, reached through the generated gRPC stubs."""

    kind: str  # "server_ref" or "etcd"
    endpoint: str
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.watch_stub = rpc_pb2_grpc.WatchStub(self.channel)
        self.lease = rpc_pb2_grpc.LeaseStub(self.channel)
        self.cluster = rpc_pb2_grpc.ClusterStub(self.channel)
        self.maintenance = rpc_pb2_grpc.MaintenanceStub(self.channel)
        self.lock = v3lock_pb2_grpc.LockStub(self.channel)
        self.election = v3election_pb2_grpc.ElectionStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    # ---- shorthands used all over the suite ----

    def put(self, key: bytes, value: bytes = b"", **kw: Any) -> rpc_pb2.PutResponse:
        return self.kv.Put(rpc_pb2.PutRequest(key=key, value=value, **kw), timeout=RPC_TIMEOUT)

    def range(self, key: bytes, **kw: Any) -> rpc_pb2.RangeResponse:
        return self.kv.Range(rpc_pb2.RangeRequest(key=key, **kw), timeout=RPC_TIMEOUT)

    def delete(self, key: bytes, **kw: Any) -> rpc_pb2.DeleteRangeResponse:
        req = rpc_pb2.DeleteRangeRequest(key=key, **kw)
        return self.kv.DeleteRange(req, timeout=RPC_TIMEOUT)

    def txn(self, **kw: Any) -> rpc_pb2.TxnResponse:
        return self.kv.Txn(rpc_pb2.TxnRequest(**kw), timeout=RPC_TIMEOUT)

    def revision(self) -> int:
        return self.maintenance.Status(rpc_pb2.StatusRequest(), timeout=RPC_TIMEOUT).header.revision

    def grant(self, ttl: int, lease_id: int = 0) -> rpc_pb2.LeaseGrantResponse:
        req = rpc_pb2.LeaseGrantRequest(TTL=ttl, ID=lease_id)
        return self.lease.LeaseGrant(req, timeout=RPC_TIMEOUT)

    def open_watch(self) -> WatchStream:
        return WatchStream(self.watch_stub)


class WatchStream:
    """A Watch stream driven synchronously: send requests, read responses with deadlines."""

    def __init__(
        self, stub: rpc_pb2_grpc.WatchStub, metadata: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """``metadata`` goes with the stream's opening, e.g. an auth token."""
        self._requests: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()
        self._responses: queue.Queue[rpc_pb2.WatchResponse | BaseException] = queue.Queue()
        self._call = stub.Watch(self._request_iter(), metadata=metadata or None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _request_iter(self) -> Iterator[rpc_pb2.WatchRequest]:
        while (req := self._requests.get()) is not None:
            yield req

    def _read(self) -> None:
        try:
            for resp in self._call:
                self._responses.put(resp)
            self._responses.put(EOFError("watch stream ended"))
        except BaseException as err:
            self._responses.put(err)

    def send(self, req: rpc_pb2.WatchRequest) -> None:
        self._requests.put(req)

    def create(self, key: bytes, **kw: Any) -> rpc_pb2.WatchResponse:
        """Create a watch and return its ``created`` response."""
        self.send(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key, **kw)))
        resp = self.next()
        assert resp.created, resp
        return resp

    def cancel(self, watch_id: int) -> None:
        self.send(
            rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch_id))
        )

    def request_progress(self) -> None:
        self.send(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))

    def next(self, timeout: float = RPC_TIMEOUT) -> rpc_pb2.WatchResponse:
        try:
            item = self._responses.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no watch response within {timeout}s") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def events(self, count: int, timeout: float = RPC_TIMEOUT) -> list[Any]:
        """Collect exactly ``count`` events (from as many responses as they come in)."""
        events: list[Any] = []
        while len(events) < count:
            resp = self.next(timeout)
            assert not resp.canceled, resp
            events.extend(resp.events)
        assert len(events) == count, events
        return events

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()
        self._reader.join(RPC_TIMEOUT)
