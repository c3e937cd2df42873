"""The floor of blocking clients: the generated stubs on a grpc.insecure_channel.

Nothing but the calls themselves (with the same per-call deadline the clients
use): no retries, no typed errors, no response wrappers.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import grpc

from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc


def _drain(requests: queue.Queue[object]) -> Iterator[object]:
    """Request iterator of a stream: what is put in the queue, until None."""
    while True:
        item = requests.get()
        if item is None:
            return
        yield item


def _consume(responses: Iterator[object]) -> None:
    """Read a stream's responses (keep-alive answers) until it ends or is cancelled."""
    with contextlib.suppress(grpc.RpcError):
        for _ in responses:
            pass


class RawSync:
    packages = ("grpcio", "protobuf")
    lease_note = "one LeaseKeepAlive stream; a thread sends each lease's refresh every TTL/3"

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.insecure_channel(endpoint)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.lease = rpc_pb2_grpc.LeaseStub(self.channel)
        self.watcher = rpc_pb2_grpc.WatchStub(self.channel)
        self.lease_ids: list[int] = []
        self._stop = threading.Event()
        self._keepalive_requests: queue.Queue[object] = queue.Queue()
        self._keepalive_call: Any = None

    def put(self, key: bytes, value: bytes) -> None:
        self.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=CALL_TIMEOUT)

    def get(self, key: bytes) -> bytes | None:
        kvs = self.kv.Range(rpc_pb2.RangeRequest(key=key), timeout=CALL_TIMEOUT).kvs
        return kvs[0].value if kvs else None

    def watch_prefix(self, prefix: bytes, ready: Callable[[], None]) -> Generator[int, None, None]:
        requests: queue.Queue[object] = queue.Queue()
        create = rpc_pb2.WatchCreateRequest(key=prefix, range_end=harness.prefix_end(prefix))
        requests.put(rpc_pb2.WatchRequest(create_request=create))
        call = self.watcher.Watch(_drain(requests))
        try:
            for response in call:
                if response.created:
                    ready()
                elif response.events:
                    yield len(response.events)
        finally:
            requests.put(None)
            call.cancel()

    def hold_leases(self, count: int, ttl: int) -> None:
        call = self.lease.LeaseKeepAlive(_drain(self._keepalive_requests))
        self._keepalive_call = call
        threading.Thread(target=_consume, args=(call,), daemon=True).start()
        schedule = harness.RefreshSchedule(ttl / 3)
        for _ in range(count):
            lease_id = self.lease.LeaseGrant(
                rpc_pb2.LeaseGrantRequest(TTL=ttl), timeout=CALL_TIMEOUT
            ).ID
            self.lease_ids.append(lease_id)
            schedule.add(lease_id)

        def refresh(lease_id: int) -> None:
            self._keepalive_requests.put(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))

        threading.Thread(
            target=harness.run_refresh_loop, args=(schedule, refresh, self._stop), daemon=True
        ).start()

    def lease_ttls(self, sample: int) -> list[int]:
        return [
            self.lease.LeaseTimeToLive(
                rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id), timeout=CALL_TIMEOUT
            ).TTL
            for lease_id in self.lease_ids[:sample]
        ]

    def close(self) -> None:
        self._stop.set()
        self._keepalive_requests.put(None)
        if self._keepalive_call is not None:
            self._keepalive_call.cancel()
        self.channel.close()


if __name__ == "__main__":
    harness.run_sync(RawSync)
