"""The floor of asyncio clients: the generated stubs on a grpc.aio.insecure_channel.

Nothing but the calls themselves (with the same per-call deadline the clients
use): no retries, no typed errors, no response wrappers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio

from benchmarks.workers import harness, raw_lock
from benchmarks.workers.harness import CALL_TIMEOUT
from benchmarks.workers.raw_lock import RawLock
from etcd3py._proto import kv_pb2, rpc_pb2, rpc_pb2_grpc


async def _consume(call: Any) -> None:
    """Read a stream's responses (keep-alive answers) until it ends or is cancelled."""
    with contextlib.suppress(grpc.RpcError, asyncio.CancelledError):
        async for _ in call:
            pass


class RawAio:
    packages = ("grpcio", "protobuf")
    lease_note = "one LeaseKeepAlive stream; a task sends each lease's refresh every TTL/3"
    lock_note = raw_lock.LOCK_NOTE

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.lease = rpc_pb2_grpc.LeaseStub(self.channel)
        self.watcher = rpc_pb2_grpc.WatchStub(self.channel)
        self.lease_ids: list[int] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._keepalive_call: Any = None
        self._schedule: harness.RefreshSchedule | None = None

    async def put(self, key: bytes, value: bytes) -> None:
        await self.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=CALL_TIMEOUT)

    async def get(self, key: bytes) -> bytes | None:
        response = await self.kv.Range(rpc_pb2.RangeRequest(key=key), timeout=CALL_TIMEOUT)
        return response.kvs[0].value if response.kvs else None

    async def watch_prefix(
        self, prefix: bytes, ready: Callable[[], None]
    ) -> AsyncGenerator[int, None]:
        call = self.watcher.Watch()
        create = rpc_pb2.WatchCreateRequest(key=prefix, range_end=harness.prefix_end(prefix))
        await call.write(rpc_pb2.WatchRequest(create_request=create))
        try:
            async for response in call:
                if response.created:
                    ready()
                elif response.events:
                    yield len(response.events)
        finally:
            call.cancel()

    async def hold_leases(self, count: int, ttl: int) -> None:
        for _ in range(count):
            lease_id = await self._grant(ttl)
            self.lease_ids.append(lease_id)  # lease_ttls samples these
            self._keep_alive(lease_id, ttl)

    async def _grant(self, ttl: int) -> int:
        request = rpc_pb2.LeaseGrantRequest(TTL=ttl)
        return int((await self.lease.LeaseGrant(request, timeout=CALL_TIMEOUT)).ID)

    def _keep_alive(self, lease_id: int, ttl: int) -> None:
        """Refresh ``lease_id`` every TTL/3 on the one LeaseKeepAlive stream."""
        if self._schedule is None:
            self._schedule = self._start_refreshing(ttl / 3)
        self._schedule.add(lease_id)

    def _start_refreshing(self, period: float) -> harness.RefreshSchedule:
        call = self._keepalive_call = self.lease.LeaseKeepAlive()
        self._tasks.append(asyncio.create_task(_consume(call)))
        schedule = harness.RefreshSchedule(period)

        async def refresh(lease_id: int) -> None:
            await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))

        self._tasks.append(asyncio.create_task(harness.run_refresh_task(schedule, refresh)))
        return schedule

    async def lease_ttls(self, sample: int) -> list[int]:
        ttls = []
        for lease_id in self.lease_ids[:sample]:
            request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id)
            ttls.append((await self.lease.LeaseTimeToLive(request, timeout=CALL_TIMEOUT)).TTL)
        return ttls

    @contextlib.asynccontextmanager
    async def mutex_contender(
        self, name: str, ttl: int
    ) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[bool]]]:
        lease_id = await self._grant(ttl)
        self._keep_alive(lease_id, ttl)
        contender = _Contender(self, RawLock(name.encode() + b"/", lease_id))
        try:
            yield contender.holding
        finally:
            contender.close()
            request = rpc_pb2.LeaseRevokeRequest(ID=lease_id)
            await self.lease.LeaseRevoke(request, timeout=CALL_TIMEOUT)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._keepalive_call is not None:
            self._keepalive_call.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channel.close()


class _Contender:
    """One task's side of the lock: its key, and a Watch stream of its own."""

    def __init__(self, client: RawAio, lock: RawLock) -> None:
        self.kv = client.kv
        self.lock = lock
        self.stream: Any = client.watcher.Watch()

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[bool]:
        await self.acquire()
        try:
            yield True
        finally:
            await self.kv.DeleteRange(self.lock.release_request, timeout=CALL_TIMEOUT)

    async def acquire(self) -> None:
        lock = self.lock
        waited = lock.after_put(await self.kv.Txn(lock.put_request(), timeout=CALL_TIMEOUT))
        while waited is not None:
            await self._wait_delete(waited)
            if lock.holds(await self.kv.Range(lock.oldest, timeout=CALL_TIMEOUT)):
                return
            before = (await self.kv.Range(lock.before_mine(), timeout=CALL_TIMEOUT)).kvs
            waited = before[0] if before else None

    async def _read(self) -> rpc_pb2.WatchResponse:
        response = await self.stream.read()
        if response is grpc.aio.EOF:
            raise RuntimeError("the watch stream ended")
        return response  # type: ignore[no-any-return]

    async def _wait_delete(self, waited: kv_pb2.KeyValue) -> None:
        await self.stream.write(raw_lock.watch_delete(waited.key))
        response = await self._read()
        while not response.created:
            response = await self._read()
        watch_id = response.watch_id
        try:
            request = rpc_pb2.RangeRequest(key=waited.key)
            if raw_lock.gone(
                await self.kv.Range(request, timeout=CALL_TIMEOUT), waited.create_revision
            ):
                return
            while not raw_lock.deleted(await self._read(), watch_id):
                pass
        finally:
            await self.stream.write(raw_lock.cancel(watch_id))

    def close(self) -> None:
        self.stream.cancel()


async def _open(endpoint: str) -> RawAio:
    return RawAio(endpoint)


if __name__ == "__main__":
    harness.run_async(_open)
