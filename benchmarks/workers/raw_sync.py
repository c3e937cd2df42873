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

from benchmarks.workers import harness, raw_lock
from benchmarks.workers.harness import CALL_TIMEOUT
from benchmarks.workers.raw_lock import RawLock
from etcd3py._proto import kv_pb2, rpc_pb2, rpc_pb2_grpc


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
    lock_note = raw_lock.LOCK_NOTE

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.insecure_channel(endpoint)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.lease = rpc_pb2_grpc.LeaseStub(self.channel)
        self.watcher = rpc_pb2_grpc.WatchStub(self.channel)
        self.lease_ids: list[int] = []
        self._stop = threading.Event()
        self._keepalive_requests: queue.Queue[object] = queue.Queue()
        self._keepalive_call: Any = None
        self._schedule: harness.RefreshSchedule | None = None
        self._schedule_lock = threading.Lock()

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
        for _ in range(count):
            lease_id = self._grant(ttl)
            self.lease_ids.append(lease_id)  # lease_ttls samples these
            self._keep_alive(lease_id, ttl)

    def _grant(self, ttl: int) -> int:
        request = rpc_pb2.LeaseGrantRequest(TTL=ttl)
        return int(self.lease.LeaseGrant(request, timeout=CALL_TIMEOUT).ID)

    def _keep_alive(self, lease_id: int, ttl: int) -> None:
        """Refresh ``lease_id`` every TTL/3 on the one LeaseKeepAlive stream."""
        with self._schedule_lock:
            if self._schedule is None:
                self._schedule = self._start_refreshing(ttl / 3)
            self._schedule.add(lease_id)

    def _start_refreshing(self, period: float) -> harness.RefreshSchedule:
        call = self.lease.LeaseKeepAlive(_drain(self._keepalive_requests))
        self._keepalive_call = call
        threading.Thread(target=_consume, args=(call,), daemon=True).start()
        schedule = harness.RefreshSchedule(period)

        def refresh(lease_id: int) -> None:
            self._keepalive_requests.put(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))

        threading.Thread(
            target=harness.run_refresh_loop, args=(schedule, refresh, self._stop), daemon=True
        ).start()
        return schedule

    def lease_ttls(self, sample: int) -> list[int]:
        return [
            self.lease.LeaseTimeToLive(
                rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id), timeout=CALL_TIMEOUT
            ).TTL
            for lease_id in self.lease_ids[:sample]
        ]

    @contextlib.contextmanager
    def mutex_contender(
        self, name: str, ttl: int
    ) -> Iterator[Callable[[], contextlib.AbstractContextManager[bool]]]:
        lease_id = self._grant(ttl)
        self._keep_alive(lease_id, ttl)
        contender = _Contender(self, RawLock(name.encode() + b"/", lease_id))
        try:
            yield contender.holding
        finally:
            contender.close()
            self.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease_id), timeout=CALL_TIMEOUT)

    def close(self) -> None:
        self._stop.set()
        self._keepalive_requests.put(None)
        if self._keepalive_call is not None:
            self._keepalive_call.cancel()
        self.channel.close()


class _Contender:
    """One thread's side of the lock: its key, and a Watch stream of its own."""

    def __init__(self, client: RawSync, lock: RawLock) -> None:
        self.kv = client.kv
        self.lock = lock
        self.requests: queue.Queue[object] = queue.Queue()
        self.stream: Any = client.watcher.Watch(_drain(self.requests))

    @contextlib.contextmanager
    def holding(self) -> Iterator[bool]:
        self.acquire()
        try:
            yield True
        finally:
            self.kv.DeleteRange(self.lock.release_request, timeout=CALL_TIMEOUT)

    def acquire(self) -> None:
        lock = self.lock
        waited = lock.after_put(self.kv.Txn(lock.put_request(), timeout=CALL_TIMEOUT))
        while waited is not None:
            self._wait_delete(waited)
            if lock.holds(self.kv.Range(lock.oldest, timeout=CALL_TIMEOUT)):
                return
            before = self.kv.Range(lock.before_mine(), timeout=CALL_TIMEOUT).kvs
            waited = before[0] if before else None

    def _wait_delete(self, waited: kv_pb2.KeyValue) -> None:
        self.requests.put(raw_lock.watch_delete(waited.key))
        watch_id = next(r for r in self.stream if r.created).watch_id
        try:
            now = self.kv.Range(rpc_pb2.RangeRequest(key=waited.key), timeout=CALL_TIMEOUT)
            if raw_lock.gone(now, waited.create_revision):
                return
            for response in self.stream:
                if raw_lock.deleted(response, watch_id):
                    return
            raise RuntimeError("the watch stream ended")
        finally:
            self.requests.put(raw_lock.cancel(watch_id))

    def close(self) -> None:
        self.requests.put(None)
        self.stream.cancel()


if __name__ == "__main__":
    harness.run_sync(RawSync)
